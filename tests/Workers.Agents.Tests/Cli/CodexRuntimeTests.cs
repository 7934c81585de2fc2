using Workers.Agents.Runtimes;
using Workers.Agents.Runtimes.Cli;

namespace Workers.Agents.Tests.Cli;

public sealed class CodexRuntimeTests : IDisposable
{
    private const string SuccessStream = """
        echo 'Reading prompt from arguments' >&2
        cat <<'JSON'
        {"type":"thread.started","thread_id":"0199a213-81c0-7800-8aa1-bbab2a035a53"}
        {"type":"turn.started"}
        {"type":"item.started","item":{"id":"item_1","type":"command_execution","command":"bash -lc 'dotnet test'","aggregated_output":"","exit_code":null,"status":"in_progress"}}
        {"type":"item.updated","item":{"id":"item_1","type":"command_execution","aggregated_output":"Build"}}
        {"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"bash -lc 'dotnet test'","aggregated_output":"Passed: 42\n","exit_code":0,"status":"completed"}}
        {"type":"item.completed","item":{"id":"item_2","type":"file_change","changes":[{"path":"src/Foo.cs","kind":"update"}],"status":"completed"}}
        {"type":"item.completed","item":{"id":"item_5","item_type":"reasoning","text":"thinking"}}
        {"type":"error","message":"Reconnecting... 1/5"}
        {"type":"item.completed","item":{"id":"item_3","type":"agent_message","text":"Fixed and tests pass."}}
        {"type":"turn.completed","usage":{"input_tokens":24763,"cached_input_tokens":24448,"output_tokens":122}}
        JSON
        """;

    private readonly FakeCli _cli = new();

    public CodexRuntimeTests() => _cli.Variables["CODEX_API_KEY"] = "sk-test";

    public void Dispose() => _cli.Dispose();

    private CodexRuntime Runtime() => new(_cli.Options, _cli.Environment);

    [Fact]
    public async Task A_successful_turn_becomes_tool_calls_usage_and_the_last_agent_message()
    {
        _cli.Install("codex", SuccessStream);

        var outcome = await _cli.RunAsync(Runtime());

        Assert.Equal(new AgentOutcome.Succeeded("Fixed and tests pass."), outcome);
        var events = _cli.Events.Events;
        Assert.Contains(new AgentEvent.ToolStarted("command", "bash -lc 'dotnet test'", "item_1"), events);
        Assert.Contains(new AgentEvent.ToolCompleted("command", "Passed: 42\n", false, "item_1"), events);
        Assert.Contains(new AgentEvent.ToolStarted("file_change", "update src/Foo.cs", "item_2"), events);
        Assert.Contains(new AgentEvent.ToolCompleted("file_change", "update src/Foo.cs", false, "item_2"), events);
        Assert.Contains(new AgentEvent.Message("Fixed and tests pass."), events);
        Assert.Equal(new AgentEvent.Usage(1, 24763, 122, 0), Assert.Single(events.OfType<AgentEvent.Usage>()));
        Assert.Contains(new AgentEvent.Log("codex error: Reconnecting... 1/5"), events);
    }

    [Fact]
    public async Task Settings_become_flags_with_the_workspace_and_the_git_check_skipped()
    {
        _cli.Install("codex", SuccessStream);

        await _cli.RunAsync(
            Runtime(),
            new { model = "gpt-5-codex", sandbox = "workspace-write", config = new { model_reasoning_effort = "high" }, extraArgs = new[] { "--ephemeral" } });

        Assert.Equal(
            ["exec", "--json", "--skip-git-repo-check", "-C", _cli.Workspace, "-m", "gpt-5-codex", "--sandbox", "workspace-write",
                "-c", "model_reasoning_effort=high", "--ephemeral", "Fix the failing test"],
            _cli.Argv());
    }

    [Fact]
    public async Task Older_builds_item_type_and_assistant_message_are_understood()
    {
        _cli.Install("codex", """
            echo '{"type":"item.completed","item":{"id":"item_0","item_type":"command_execution","command":"ls","aggregated_output":"a","exit_code":2,"status":"failed"}}'
            echo '{"type":"item.completed","item":{"id":"item_1","item_type":"assistant_message","text":"Old style."}}'
            echo '{"type":"turn.completed","usage":{"input_tokens":10,"output_tokens":2}}'
            """);

        var outcome = await _cli.RunAsync(Runtime());

        Assert.Equal(new AgentOutcome.Succeeded("Old style."), outcome);
        Assert.Contains(new AgentEvent.ToolStarted("command", "ls", "item_0"), _cli.Events.Events);
        Assert.Contains(new AgentEvent.ToolCompleted("command", "a", true, "item_0"), _cli.Events.Events);
    }

    [Fact]
    public async Task A_failed_turn_is_a_retryable_agent_error()
    {
        _cli.Install("codex", """
            echo '{"type":"thread.started","thread_id":"t"}'
            echo '{"type":"turn.failed","error":{"message":"stream disconnected before completion"}}'
            exit 1
            """);

        var outcome = Assert.IsType<AgentOutcome.Failed>(await _cli.RunAsync(Runtime()));

        Assert.Equal(CliFailureKinds.AgentError, outcome.Kind);
        Assert.True(outcome.Retryable);
        Assert.Contains("stream disconnected before completion", outcome.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_interrupted_run_with_no_terminal_event_fails_with_stderr()
    {
        _cli.Install("codex", """
            echo '{"type":"turn.started"}'
            echo 'Not inside a trusted directory' >&2
            exit 1
            """);

        var outcome = Assert.IsType<AgentOutcome.Failed>(await _cli.RunAsync(Runtime()));

        Assert.Equal(CliFailureKinds.ExitCode, outcome.Kind);
        Assert.Contains("Not inside a trusted directory", outcome.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancelling_sends_sigint_and_returns_cancelled()
    {
        _cli.Install("codex", """
            trap 'echo interrupted > interrupted.txt; exit 1' INT
            echo '{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"Working"}}'
            sleep 300 &
            wait
            """);
        using var cancellation = new CancellationTokenSource();
        var run = _cli.RunCancellableAsync(Runtime(), cancellation.Token);
        await _cli.Events.WaitForMessageAsync("Working").WaitAsync(TestData.Guard, TestContext.Current.CancellationToken);

        await cancellation.CancelAsync();

        Assert.Equal(new AgentOutcome.Cancelled("Working"), await run);
        Assert.True(File.Exists(Path.Combine(_cli.Workspace, "interrupted.txt")));
    }

    [Fact]
    public async Task Saved_login_in_codex_home_satisfies_the_check_and_none_is_missing()
    {
        _cli.Variables.Remove("CODEX_API_KEY");
        _cli.Install("codex", "exit 0");

        var missing = await Runtime().CheckPrerequisitesAsync(TestContext.Current.CancellationToken);
        Assert.False(missing.Satisfied);
        Assert.Contains("CODEX_API_KEY", missing.Problem, StringComparison.Ordinal);
        Assert.Equal("https://developers.openai.com/codex/noninteractive", missing.HelpUrl);

        _cli.WriteFile("home/.codex/auth.json", "{}");
        Assert.Equal(PrerequisiteCheck.Ok, await Runtime().CheckPrerequisitesAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_missing_cli_names_codex_and_its_install_page()
    {
        var check = await Runtime().CheckPrerequisitesAsync(TestContext.Current.CancellationToken);

        Assert.False(check.Satisfied);
        Assert.Contains("'codex'", check.Problem, StringComparison.Ordinal);
        Assert.Equal("https://developers.openai.com/codex/noninteractive", check.HelpUrl);
    }
}
