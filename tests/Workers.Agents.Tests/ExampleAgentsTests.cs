using Workers.Agents.Definitions;
using Workers.Agents.Runtimes;

namespace Workers.Agents.Tests;

/// <summary>The agents in examples/agents.yaml, run as the quickstart runs them.</summary>
public sealed class ExampleAgentsTests : IDisposable
{
    private static readonly AgentCatalog Examples = AgentCatalog.Load(Path.Combine(TestData.RepositoryRoot(), "examples", "agents.yaml"));

    private readonly TempDirectory _workspace = new();
    private readonly RecordingSink _events = new();
    private readonly ProcessRuntime _runtime = new();

    public void Dispose() => _workspace.Dispose();

    private Task<AgentOutcome> RunAsync(string agent, string input, int attempt = 1) =>
        RunCancellableAsync(agent, input, attempt, TestContext.Current.CancellationToken);

    private Task<AgentOutcome> RunCancellableAsync(string agent, string input, int attempt, CancellationToken cancellationToken)
    {
        Assert.True(Examples.TryGet(agent, out var definition));
        var invocation = new AgentInvocation(Guid.NewGuid(), attempt, input, definition.ToAgentSpec(), _workspace.Path);
        return _runtime.RunAsync(invocation, _events, cancellationToken).WaitAsync(TestData.Guard, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Echo_returns_its_input_after_progress_events()
    {
        var outcome = await RunAsync("echo", "hello \"world\"\nsecond line");

        Assert.Equal(new AgentOutcome.Succeeded("hello \"world\"\nsecond line"), outcome);
        Assert.Contains(_events.Events, e => e is AgentEvent.Message);
        Assert.Contains(_events.Events, e => e is AgentEvent.ToolStarted { Tool: "echo" });
        Assert.Contains(_events.Events, e => e is AgentEvent.Usage { Steps: 1 });
    }

    [Fact]
    public async Task Noop_succeeds_at_once()
    {
        Assert.Equal(new AgentOutcome.Succeeded("ok"), await RunAsync("noop", "anything"));
    }

    [Fact]
    public async Task Fail_fails_without_retry()
    {
        var outcome = await RunAsync("fail", "");

        Assert.Equal(
            new AgentOutcome.Failed("The fail agent always fails; this is not a bug.", ProcessRuntime.AgentErrorFailure, Retryable: false, ""),
            outcome);
    }

    [Fact]
    public async Task Flaky_fails_its_first_attempt_retryably_and_succeeds_on_the_second()
    {
        var first = Assert.IsType<AgentOutcome.Failed>(await RunAsync("flaky", "task", attempt: 1));
        Assert.Equal(ProcessRuntime.ExitCodeFailure, first.Kind);
        Assert.True(first.Retryable);
        Assert.Contains("flaky: failing attempt 1 on purpose", first.Error, StringComparison.Ordinal);

        Assert.Equal(new AgentOutcome.Succeeded("Succeeded on attempt 2: task"), await RunAsync("flaky", "task", attempt: 2));
    }

    [Fact]
    public async Task Sleep_reports_a_step_per_second_and_then_succeeds()
    {
        var outcome = await RunAsync("sleep", "1");

        Assert.Equal(new AgentOutcome.Succeeded("Slept for 1 second."), outcome);
        Assert.Single(_events.Events, e => e is AgentEvent.Usage { Steps: 1 });
    }

    [Fact]
    public async Task Sleep_stops_when_cancelled()
    {
        using var cancellation = new CancellationTokenSource();
        var run = RunCancellableAsync("sleep", "300", 1, cancellation.Token);
        await _events.WaitForMessageAsync("Sleeping").WaitAsync(TestData.Guard, TestContext.Current.CancellationToken);

        await cancellation.CancelAsync();

        Assert.IsType<AgentOutcome.Cancelled>(await run);
    }

    [Fact]
    public async Task Sleep_rejects_input_that_is_not_a_number()
    {
        var outcome = Assert.IsType<AgentOutcome.Failed>(await RunAsync("sleep", "soon"));

        Assert.Equal(ProcessRuntime.AgentErrorFailure, outcome.Kind);
        Assert.False(outcome.Retryable);
    }
}
