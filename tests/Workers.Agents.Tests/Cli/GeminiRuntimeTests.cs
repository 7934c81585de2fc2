using Workers.Agents.Runtimes;
using Workers.Agents.Runtimes.Cli;

namespace Workers.Agents.Tests.Cli;

public sealed class GeminiRuntimeTests : IDisposable
{
    private const string SuccessStream = """
        echo 'Loaded cached credentials.' >&2
        cat <<'JSON'
        {"type":"init","timestamp":"2026-05-01T10:00:00.000Z","session_id":"c1a","model":"gemini-2.5-pro"}
        {"type":"message","timestamp":"t","role":"user","content":"Fix the failing test"}
        {"type":"message","timestamp":"t","role":"assistant","content":"Let me run ","delta":true}
        {"type":"message","timestamp":"t","role":"assistant","content":"the tests.","delta":true}
        {"type":"tool_use","timestamp":"t","tool_name":"run_shell_command","tool_id":"call-1","parameters":{"command":"dotnet test"}}
        {"type":"tool_result","timestamp":"t","tool_id":"call-1","status":"success","output":"Passed: 42"}
        {"type":"tool_use","timestamp":"t","tool_name":"read_file","tool_id":"call-2","parameters":{"path":"x"}}
        {"type":"tool_result","timestamp":"t","tool_id":"call-2","status":"error","error":{"type":"FILE_NOT_FOUND","message":"x not found"}}
        {"type":"error","timestamp":"t","severity":"warning","message":"Loop detected"}
        {"type":"message","timestamp":"t","role":"assistant","content":"All green.","delta":true}
        {"type":"result","timestamp":"t","status":"success","stats":{"total_tokens":5200,"input_tokens":4800,"output_tokens":400,"cached":3000,"input":1800,"duration_ms":21000,"tool_calls":2,"models":{}}}
        JSON
        """;

    private readonly FakeCli _cli = new();

    public GeminiRuntimeTests() => _cli.Variables["GEMINI_API_KEY"] = "key";

    public void Dispose() => _cli.Dispose();

    private GeminiRuntime Runtime() => new(_cli.Options, _cli.Environment);

    [Fact]
    public async Task Delta_chunks_are_joined_into_messages_and_the_last_one_is_the_result()
    {
        _cli.Install("gemini", SuccessStream);

        var outcome = await _cli.RunAsync(Runtime());

        Assert.Equal(new AgentOutcome.Succeeded("All green."), outcome);
        var events = _cli.Events.Events;
        Assert.Equal(["Let me run the tests.", "All green."], events.OfType<AgentEvent.Message>().Select(m => m.Text));
        Assert.Contains(new AgentEvent.ToolStarted("run_shell_command", """{"command":"dotnet test"}""", "call-1"), events);
        Assert.Contains(new AgentEvent.ToolCompleted("run_shell_command", "Passed: 42", false, "call-1"), events);
        Assert.Contains(new AgentEvent.ToolCompleted("read_file", "x not found", true, "call-2"), events);
        Assert.Equal(new AgentEvent.Usage(2, 4800, 400, 0), Assert.Single(events.OfType<AgentEvent.Usage>()));
        Assert.Contains(new AgentEvent.Log("gemini warning: Loop detected"), events);
    }

    [Fact]
    public async Task Settings_become_flags_the_prompt_follows_p_and_the_workspace_is_trusted()
    {
        _cli.Install("gemini", "echo \"$GEMINI_CLI_TRUST_WORKSPACE\" > trust.txt\n" + SuccessStream);

        await _cli.RunAsync(Runtime(), new { model = "gemini-2.5-pro", approvalMode = "auto_edit", extraArgs = new[] { "--include-directories", "a,b" } });

        Assert.Equal(
            ["--output-format", "stream-json", "-m", "gemini-2.5-pro", "--approval-mode", "auto_edit", "--include-directories", "a,b", "-p", "Fix the failing test"],
            _cli.Argv());
        Assert.Equal("true\n", File.ReadAllText(Path.Combine(_cli.Workspace, "trust.txt")));
    }

    [Fact]
    public async Task A_prompt_starting_with_a_dash_is_attached_to_the_option()
    {
        _cli.Install("gemini", SuccessStream);

        await _cli.RunAsync(Runtime(), input: "-x marks the spot");

        Assert.Equal("--prompt=-x marks the spot", _cli.Argv()[^1]);
    }

    [Fact]
    public async Task An_error_result_for_the_turn_limit_fails_without_retry()
    {
        _cli.Install("gemini", """
            echo '{"type":"result","timestamp":"t","status":"error","error":{"type":"FatalTurnLimitedError","message":"Reached max session turns"},"stats":{"total_tokens":0,"input_tokens":0,"output_tokens":0,"models":{}}}'
            exit 53
            """);

        var outcome = Assert.IsType<AgentOutcome.Failed>(await _cli.RunAsync(Runtime()));

        Assert.Equal(CliFailureKinds.MaxTurns, outcome.Kind);
        Assert.False(outcome.Retryable);
        Assert.Contains("Reached max session turns", outcome.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exit_41_without_a_result_is_an_auth_failure_with_stderr()
    {
        _cli.Install("gemini", """
            echo 'Please set an Auth method in your settings.json or specify GEMINI_API_KEY' >&2
            exit 41
            """);

        var outcome = Assert.IsType<AgentOutcome.Failed>(await _cli.RunAsync(Runtime()));

        Assert.Equal(CliFailureKinds.Auth, outcome.Kind);
        Assert.False(outcome.Retryable);
        Assert.Contains("specify GEMINI_API_KEY", outcome.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancelling_returns_cancelled_although_gemini_exits_0_on_a_signal()
    {
        _cli.Install("gemini", """
            trap 'exit 0' INT TERM
            echo '{"type":"message","role":"assistant","content":"Thinking hard","delta":true}'
            echo '{"type":"tool_use","tool_name":"run_shell_command","tool_id":"c1","parameters":{}}'
            sleep 300 &
            wait
            """);
        using var cancellation = new CancellationTokenSource();
        var run = _cli.RunCancellableAsync(Runtime(), cancellation.Token);
        await _cli.Events.WaitForMessageAsync("Thinking").WaitAsync(TestData.Guard, TestContext.Current.CancellationToken);

        await cancellation.CancelAsync();

        Assert.Equal(new AgentOutcome.Cancelled("Thinking hard"), await run);
    }

    [Fact]
    public async Task Credentials_come_from_the_environment_or_the_settings_file()
    {
        _cli.Variables.Remove("GEMINI_API_KEY");
        _cli.Install("gemini", "exit 0");

        var missing = await Runtime().CheckPrerequisitesAsync(TestContext.Current.CancellationToken);
        Assert.False(missing.Satisfied);
        Assert.Contains("GEMINI_API_KEY", missing.Problem, StringComparison.Ordinal);
        Assert.Equal("https://geminicli.com/docs/cli/headless", missing.HelpUrl);

        _cli.Variables["GOOGLE_GENAI_USE_VERTEXAI"] = "true";
        var vertex = await Runtime().CheckPrerequisitesAsync(TestContext.Current.CancellationToken);
        Assert.Contains("GOOGLE_CLOUD_PROJECT", vertex.Problem, StringComparison.Ordinal);

        _cli.Variables.Remove("GOOGLE_GENAI_USE_VERTEXAI");
        _cli.WriteFile("home/.gemini/settings.json", """{ "security": { "auth": { "selectedType": "oauth-personal" } } }""");
        Assert.Equal(PrerequisiteCheck.Ok, await Runtime().CheckPrerequisitesAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_malformed_settings_file_counts_as_no_credentials()
    {
        _cli.Variables.Remove("GEMINI_API_KEY");
        _cli.Install("gemini", "exit 0");
        _cli.WriteFile("home/.gemini/settings.json", "{ not json");

        Assert.False((await Runtime().CheckPrerequisitesAsync(TestContext.Current.CancellationToken)).Satisfied);
    }
}
