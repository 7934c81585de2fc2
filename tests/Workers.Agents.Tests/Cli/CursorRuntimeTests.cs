using Workers.Agents.Runtimes;
using Workers.Agents.Runtimes.Cli;

namespace Workers.Agents.Tests.Cli;

public sealed class CursorRuntimeTests : IDisposable
{
    private const string SuccessStream = """
        cat <<'JSON'
        {"type":"system","subtype":"init","apiKeySource":"env","cwd":"/repo","session_id":"c6b6","model":"Claude 4 Sonnet","permissionMode":"default"}
        {"type":"user","message":{"role":"user","content":[{"type":"text","text":"Fix the failing test"}]},"session_id":"c6b6"}
        {"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Reading the test file."}]},"session_id":"c6b6"}
        {"type":"tool_call","subtype":"started","call_id":"toolu_01","tool_call":{"readToolCall":{"args":{"path":"tests/FooTests.cs"}}},"session_id":"c6b6"}
        {"type":"tool_call","subtype":"completed","call_id":"toolu_01","tool_call":{"readToolCall":{"args":{"path":"tests/FooTests.cs"},"result":{"success":{"content":"class FooTests {}","totalLines":1}}}},"session_id":"c6b6"}
        {"type":"tool_call","subtype":"started","call_id":"toolu_02","tool_call":{"function":{"name":"grep","arguments":"{\"q\":\"x\"}"}},"session_id":"c6b6"}
        {"type":"tool_call","subtype":"completed","call_id":"toolu_02","tool_call":{"function":{"name":"grep","arguments":"{}","result":{"error":{"message":"bad pattern"}}}},"session_id":"c6b6"}
        {"type":"thinking","subtype":"delta","text":"hmm"}
        {"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Fixed."}]},"session_id":"c6b6"}
        {"type":"result","subtype":"success","duration_ms":5234,"duration_api_ms":5234,"is_error":false,"result":"Fixed.","session_id":"c6b6","request_id":"10e1","usage":{"inputTokens":900,"outputTokens":40}}
        JSON
        """;

    private readonly FakeCli _cli = new();

    public CursorRuntimeTests() => _cli.Variables["CURSOR_API_KEY"] = "key";

    public void Dispose() => _cli.Dispose();

    private CursorRuntime Runtime() => new(_cli.Options, _cli.Environment);

    [Fact]
    public async Task A_successful_stream_becomes_messages_tool_calls_and_the_result()
    {
        _cli.Install("cursor-agent", SuccessStream);

        var outcome = await _cli.RunAsync(Runtime());

        Assert.Equal(new AgentOutcome.Succeeded("Fixed."), outcome);
        var events = _cli.Events.Events;
        Assert.Equal(["Reading the test file.", "Fixed."], events.OfType<AgentEvent.Message>().Select(m => m.Text));
        Assert.Contains(new AgentEvent.ToolStarted("readToolCall", """{"path":"tests/FooTests.cs"}""", "toolu_01"), events);
        Assert.Contains(new AgentEvent.ToolCompleted("readToolCall", """{"content":"class FooTests {}","totalLines":1}""", false, "toolu_01"), events);
        Assert.Contains(new AgentEvent.ToolCompleted("grep", """{"message":"bad pattern"}""", true, "toolu_02"), events);
        Assert.Equal(new AgentEvent.Usage(2, 900, 40, 0), Assert.Single(events.OfType<AgentEvent.Usage>()));
    }

    [Fact]
    public async Task Settings_become_flags_with_the_workspace()
    {
        _cli.Install("cursor-agent", SuccessStream);

        await _cli.RunAsync(Runtime(), new { model = "sonnet-4", force = true, sandbox = "enabled", trust = true, extraArgs = new[] { "--approve-mcps" } });

        Assert.Equal(
            ["-p", "--output-format", "stream-json", "--workspace", _cli.Workspace, "--model", "sonnet-4", "--force", "--sandbox", "enabled", "--trust",
                "--approve-mcps", "Fix the failing test"],
            _cli.Argv());
    }

    [Fact]
    public async Task A_non_zero_exit_without_a_result_fails_with_stderr()
    {
        _cli.Install("cursor-agent", """
            echo '{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Half"}]}}'
            echo 'Error: Workspace not trusted' >&2
            exit 1
            """);

        var outcome = Assert.IsType<AgentOutcome.Failed>(await _cli.RunAsync(Runtime()));

        Assert.Equal(CliFailureKinds.ExitCode, outcome.Kind);
        Assert.Contains("Workspace not trusted", outcome.Error, StringComparison.Ordinal);
        Assert.Equal("Half", outcome.Output);
    }

    [Fact]
    public async Task An_error_result_is_a_retryable_agent_error()
    {
        _cli.Install("cursor-agent", """
            echo '{"type":"result","subtype":"error","is_error":true,"result":"Model unavailable"}'
            exit 1
            """);

        var outcome = Assert.IsType<AgentOutcome.Failed>(await _cli.RunAsync(Runtime()));

        Assert.Equal(CliFailureKinds.AgentError, outcome.Kind);
        Assert.Contains("Model unavailable", outcome.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancelling_returns_cancelled()
    {
        _cli.Install("cursor-agent", """
            echo '{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Slow"}]}}'
            sleep 300
            """);
        using var cancellation = new CancellationTokenSource();
        var run = _cli.RunCancellableAsync(Runtime(), cancellation.Token);
        await _cli.Events.WaitForMessageAsync("Slow").WaitAsync(TestData.Guard, TestContext.Current.CancellationToken);

        await cancellation.CancelAsync();

        Assert.Equal(new AgentOutcome.Cancelled("Slow"), await run);
    }

    [Fact]
    public async Task Login_is_accepted_only_when_status_says_so()
    {
        _cli.Variables.Remove("CURSOR_API_KEY");
        _cli.Install("cursor-agent", """echo "Not logged in"; exit 0""");

        var missing = await Runtime().CheckPrerequisitesAsync(TestContext.Current.CancellationToken);
        Assert.False(missing.Satisfied);
        Assert.Contains("CURSOR_API_KEY", missing.Problem, StringComparison.Ordinal);
        Assert.Equal("https://cursor.com/docs/cli/reference/authentication", missing.HelpUrl);

        _cli.Install("cursor-agent", """echo "✓ Logged in as dev@example.com"; exit 0""");
        Assert.Equal(PrerequisiteCheck.Ok, await Runtime().CheckPrerequisitesAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_missing_cli_names_cursor_agent_and_the_install_page()
    {
        var check = await Runtime().CheckPrerequisitesAsync(TestContext.Current.CancellationToken);

        Assert.False(check.Satisfied);
        Assert.Contains("'cursor-agent'", check.Problem, StringComparison.Ordinal);
        Assert.Equal("https://cursor.com/docs/cli/installation", check.HelpUrl);
    }
}
