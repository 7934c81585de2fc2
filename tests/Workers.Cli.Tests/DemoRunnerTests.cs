using Workers.Cli.Api;
using Workers.Cli.Dev;
using Workers.Cli.Tests.Support;
using Workers.Runs.StateMachine;

namespace Workers.Cli.Tests;

public sealed class DemoRunnerTests : IAsyncLifetime
{
    FakeOrchestrator fake = null!;

    public async ValueTask InitializeAsync()
    {
        fake = await FakeOrchestrator.StartAsync(TestContext.Current.CancellationToken);
        fake.ScriptOnSubmit = (runId, request) =>
        [
            null,
            FakeOrchestrator.Run(runId, RunStates.Queued) with { Agent = request.Agent!, Priority = request.Priority ?? 0 },
            FakeOrchestrator.Run(runId, RunStates.Running) with { Agent = request.Agent!, Priority = request.Priority ?? 0 },
            request.Agent == "fail"
                ? FakeOrchestrator.Run(runId, RunStates.Failed, error: "fails on purpose") with { Agent = "fail", Priority = request.Priority ?? 0 }
                : FakeOrchestrator.Run(runId, RunStates.Succeeded, output: request.Input) with { Agent = request.Agent!, Priority = request.Priority ?? 0 },
        ];
    }

    public async ValueTask DisposeAsync() => await fake.DisposeAsync();

    [Fact]
    public async Task The_demo_submits_echoes_at_three_priorities_a_sleep_and_a_failure()
    {
        await RunDemoAsync(new StringWriter());

        Assert.Equal(
            [("echo", 1), ("echo", 5), ("echo", 9), ("sleep", 5), ("fail", 5)],
            fake.Submissions.Select(s => (s.Agent!, s.Priority ?? -1)));
        Assert.Equal("2", fake.Submissions.Single(s => s.Agent == "sleep").Input);
    }

    [Fact]
    public async Task The_demo_reports_each_state_change_and_ends_when_every_run_is_terminal()
    {
        var progress = new StringWriter();

        var runs = await RunDemoAsync(progress);

        Assert.Equal(DemoRunner.Requests.Count, runs.Count);
        Assert.All(runs, run => Assert.True(RunStates.IsTerminal(run.State), run.State));
        var lines = progress.ToString();
        foreach (var run in runs)
        {
            Assert.Contains($"{run.RunId}  {run.Agent,-5} p{run.Priority}  submitted", lines, StringComparison.Ordinal);
            Assert.Contains($"{run.RunId}  {run.Agent,-5} p{run.Priority}  Running", lines, StringComparison.Ordinal);
            Assert.Contains($"{run.RunId}  {run.Agent,-5} p{run.Priority}  {run.State}", lines, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_summary_has_a_row_per_run_with_its_result_or_error()
    {
        var runs = await RunDemoAsync(new StringWriter());

        var summary = DemoRunner.Summary(runs).ToString();

        Assert.Matches(@"fail\s+5\s+Failed\s+1\s+3m00s\s+fails on purpose", summary);
        Assert.Matches(@"echo\s+9\s+Succeeded\s+1\s+3m00s\s+hello from a priority 9 run", summary);
    }

    async Task<IReadOnlyList<Orchestrator.Api.RunView>> RunDemoAsync(TextWriter progress)
    {
        using var api = ApiClient.Create(fake.Url);
        var demo = new DemoRunner(api, progress, TimeProvider.System, TimeSpan.FromMilliseconds(10));
        var runs = await demo.RunAsync(TestContext.Current.CancellationToken);
        return Assert.IsType<IReadOnlyList<Orchestrator.Api.RunView>>(runs, exactMatch: false);
    }
}
