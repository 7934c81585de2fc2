using Workers.Agents.Runtimes;
using Workers.Agents.Runtimes.Cli;

namespace Workers.Agents.Tests.Cli;

public sealed class ClaudeCodeRuntimeTests : IDisposable
{
    private const string SuccessStream = """
        echo 'warming up' >&2
        cat <<'JSON'
        {"type":"system","subtype":"init","session_id":"8f1c","cwd":"/repo","model":"claude-sonnet-4-5","tools":["Bash"],"permissionMode":"acceptEdits","apiKeySource":"none"}
        not json at all
        {"type":"assistant","message":{"id":"msg_01","model":"claude-sonnet-4-5","role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"x"},{"type":"text","text":"Running tests."},{"type":"tool_use","id":"toolu_01","name":"Bash","input":{"command":"dotnet test"}}],"stop_reason":"tool_use","usage":{"input_tokens":1200,"output_tokens":80}},"parent_tool_use_id":null,"session_id":"8f1c"}
        {"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01","content":"Passed: 42","is_error":false}]},"parent_tool_use_id":null,"session_id":"8f1c"}
        {"type":"rate_limit_event","whatever":{"a":1}}
        {"type":"assistant","message":"not an object"}
        {"type":"assistant","message":{"id":"msg_02","content":[{"type":"tool_use","id":"toolu_02","name":"Read","input":{"file_path":"a.cs"}}]}}
        {"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_02","content":[{"type":"text","text":"no such file"}],"is_error":true}]}}
        {"type":"result","subtype":"success","is_er
        {"type":"result","subtype":"success","is_error":false,"num_turns":3,"duration_ms":18250,"result":"All tests pass.","session_id":"8f1c","total_cost_usd":0.0421,"usage":{"input_tokens":3400,"cache_creation_input_tokens":0,"cache_read_input_tokens":12000,"output_tokens":410},"permission_denials":[],"terminal_reason":"completed","brand_new_field":true}
        JSON
        echo 'done' >&2
        """;

    private readonly FakeCli _cli = new();

    public ClaudeCodeRuntimeTests() => _cli.Variables["ANTHROPIC_API_KEY"] = "sk-test";

    public void Dispose() => _cli.Dispose();

    private ClaudeCodeRuntime Runtime() => new(_cli.Options, _cli.Environment);

    [Fact]
    public async Task A_successful_stream_becomes_messages_tool_calls_usage_and_the_final_result()
    {
        _cli.Install("claude", SuccessStream);

        var outcome = await _cli.RunAsync(Runtime());

        Assert.Equal(new AgentOutcome.Succeeded("All tests pass."), outcome);
        var events = _cli.Events.Events;
        Assert.Contains(new AgentEvent.Message("Running tests."), events);
        Assert.Contains(new AgentEvent.ToolStarted("Bash", """{"command":"dotnet test"}""", "toolu_01"), events);
        Assert.Contains(new AgentEvent.ToolCompleted("Bash", "Passed: 42", false, "toolu_01"), events);
        Assert.Contains(new AgentEvent.ToolCompleted("Read", "no such file", true, "toolu_02"), events);
        Assert.Equal(new AgentEvent.Usage(3, 15400, 410, 0.0421m), Assert.Single(events.OfType<AgentEvent.Usage>()));
        Assert.Contains(new AgentEvent.Log("not json at all"), events);
        Assert.Contains(new AgentEvent.Log("warming up"), events);
    }

    [Fact]
    public async Task Settings_become_flags_and_the_task_is_the_last_argument_run_in_the_workspace()
    {
        _cli.Install("claude", SuccessStream);

        await _cli.RunAsync(
            Runtime(),
            new
            {
                model = "sonnet",
                permissionMode = "acceptEdits",
                maxTurns = 20,
                allowedTools = new[] { "Read", "Edit", "Bash(git *)" },
                extraArgs = new[] { "--add-dir", "../shared" },
            },
            input: "Fix it\nplease");

        Assert.Equal(
            ["-p", "--output-format", "stream-json", "--verbose", "--model", "sonnet", "--permission-mode", "acceptEdits", "--max-turns", "20",
                "--allowedTools", "Read,Edit,Bash(git *)", "--add-dir", "../shared", "Fix it\nplease"],
            _cli.Argv());
        Assert.Equal(_cli.Workspace, _cli.WorkingDirectory());
    }

    [Fact]
    public async Task A_task_that_looks_like_an_option_is_passed_after_a_double_dash()
    {
        _cli.Install("claude", SuccessStream);

        await _cli.RunAsync(Runtime(), input: "--help me");

        Assert.Equal(["--", "--help me"], _cli.Argv()[^2..]);
    }

    [Fact]
    public async Task Hitting_the_turn_limit_fails_without_retry()
    {
        _cli.Install("claude", """
            echo '{"type":"result","subtype":"error_max_turns","is_error":true,"num_turns":5,"session_id":"8f1c","total_cost_usd":0.11,"errors":["Reached maximum number of turns (5)"],"terminal_reason":"max_turns"}'
            exit 1
            """);

        var outcome = Assert.IsType<AgentOutcome.Failed>(await _cli.RunAsync(Runtime()));

        Assert.Equal(CliFailureKinds.MaxTurns, outcome.Kind);
        Assert.False(outcome.Retryable);
        Assert.Contains("Reached maximum number of turns (5)", outcome.Error, StringComparison.Ordinal);
        Assert.Contains(new AgentEvent.Usage(5, 0, 0, 0.11m), _cli.Events.Events);
    }

    [Theory]
    [InlineData(529, CliFailureKinds.Api, true)]
    [InlineData(400, CliFailureKinds.Api, false)]
    [InlineData(401, CliFailureKinds.Auth, false)]
    public async Task An_api_error_result_is_retryable_unless_the_request_itself_is_wrong(int status, string kind, bool retryable)
    {
        _cli.Install("claude", $$"""
            echo '{"type":"result","subtype":"success","is_error":true,"result":"API Error: overloaded","api_error_status":{{status}},"terminal_reason":"api_error"}'
            exit 1
            """);

        var outcome = Assert.IsType<AgentOutcome.Failed>(await _cli.RunAsync(Runtime()));

        Assert.Equal(kind, outcome.Kind);
        Assert.Equal(retryable, outcome.Retryable);
        Assert.Contains("API Error: overloaded", outcome.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stream_cut_short_by_a_crash_fails_with_the_exit_code_and_the_end_of_stderr()
    {
        _cli.Install("claude", """
            echo '{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"Working on it"}]}}'
            printf '{"type":"assistant","message":{"id":"m2","content":[{"type":"te'
            echo 'Error: ECONNRESET socket hang up' >&2
            exit 1
            """);

        var outcome = Assert.IsType<AgentOutcome.Failed>(await _cli.RunAsync(Runtime()));

        Assert.Equal(CliFailureKinds.ExitCode, outcome.Kind);
        Assert.True(outcome.Retryable);
        Assert.Contains("exited with code 1", outcome.Error, StringComparison.Ordinal);
        Assert.Contains("ECONNRESET socket hang up", outcome.Error, StringComparison.Ordinal);
        Assert.Equal("Working on it", outcome.Output);
    }

    [Fact]
    public async Task A_clean_exit_without_a_result_is_a_retryable_failure()
    {
        _cli.Install("claude", """
            echo '{"type":"system","subtype":"init","session_id":"s"}'
            echo 'lost connection' >&2
            """);

        var outcome = Assert.IsType<AgentOutcome.Failed>(await _cli.RunAsync(Runtime()));

        Assert.Equal(CliFailureKinds.NoResult, outcome.Kind);
        Assert.True(outcome.Retryable);
        Assert.Contains("lost connection", outcome.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancelling_interrupts_the_cli_with_sigint_and_returns_cancelled()
    {
        _cli.Install("claude", """
            trap 'echo interrupted > interrupted.txt; exit 130' INT
            echo '{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"Starting a long job"}]}}'
            sleep 300 &
            wait
            """);
        using var cancellation = new CancellationTokenSource();
        var run = _cli.RunCancellableAsync(Runtime(), cancellation.Token);
        await _cli.Events.WaitForMessageAsync("Starting").WaitAsync(TestData.Guard, TestContext.Current.CancellationToken);

        await cancellation.CancelAsync();

        Assert.Equal(new AgentOutcome.Cancelled("Starting a long job"), await run);
        Assert.True(File.Exists(Path.Combine(_cli.Workspace, "interrupted.txt")));
    }

    [Fact]
    public async Task A_cli_that_ignores_its_interrupt_is_killed_with_its_whole_tree()
    {
        _cli.Install("claude", """
            trap '' INT TERM
            sleep 300 &
            echo $! > child.pid
            echo '{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"Stubborn"}]}}'
            while true; do sleep 1; done
            """);
        using var cancellation = new CancellationTokenSource();
        var run = _cli.RunCancellableAsync(Runtime(), cancellation.Token);
        await _cli.Events.WaitForMessageAsync("Stubborn").WaitAsync(TestData.Guard, TestContext.Current.CancellationToken);

        await cancellation.CancelAsync();

        Assert.IsType<AgentOutcome.Cancelled>(await run);
        var child = int.Parse(File.ReadAllText(Path.Combine(_cli.Workspace, "child.pid")), System.Globalization.CultureInfo.InvariantCulture);
        Assert.False(TestData.IsRunning(child));
    }

    [Fact]
    public async Task A_missing_cli_is_a_missing_prerequisite_with_the_setup_page()
    {
        var check = await Runtime().CheckPrerequisitesAsync(TestContext.Current.CancellationToken);

        Assert.False(check.Satisfied);
        Assert.Contains("'claude'", check.Problem, StringComparison.Ordinal);
        Assert.Contains("Workers:Runtimes:ClaudeCode:Command", check.Problem, StringComparison.Ordinal);
        Assert.Equal("https://code.claude.com/docs/en/setup", check.HelpUrl);
    }

    [Fact]
    public async Task The_cli_is_found_in_local_bin_and_an_api_key_satisfies_the_check()
    {
        _cli.WriteFile("home/.local/bin/.keep", "");
        File.Move(_cli.Install("claude", "exit 0"), Path.Combine(_cli.Home, ".local", "bin", "claude"));

        var check = await Runtime().CheckPrerequisitesAsync(TestContext.Current.CancellationToken);

        Assert.Equal(PrerequisiteCheck.Ok, check);
    }

    [Fact]
    public async Task Without_credentials_the_check_fails_with_the_auth_page()
    {
        _cli.Variables.Remove("ANTHROPIC_API_KEY");
        _cli.Install("claude", """echo '{"loggedIn":false}'""");

        var check = await Runtime().CheckPrerequisitesAsync(TestContext.Current.CancellationToken);

        Assert.False(check.Satisfied);
        Assert.Contains("ANTHROPIC_API_KEY", check.Problem, StringComparison.Ordinal);
        Assert.Contains("CLAUDE_CODE_OAUTH_TOKEN", check.Problem, StringComparison.Ordinal);
        Assert.Equal("https://docs.claude.com/en/docs/claude-code/headless", check.HelpUrl);
    }

    [Fact]
    public async Task A_stored_login_reported_by_auth_status_satisfies_the_check()
    {
        _cli.Variables.Remove("ANTHROPIC_API_KEY");
        _cli.Install("claude", """
            [ "$1 $2" = "auth status" ] && echo '{"loggedIn":true,"authMethod":"claude.ai"}'
            exit 1
            """);

        Assert.Equal(PrerequisiteCheck.Ok, await Runtime().CheckPrerequisitesAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task The_configured_command_is_used_and_a_wrong_one_names_the_setting()
    {
        var path = _cli.WriteFile("elsewhere/claude-custom", "");
        _cli.Options.Command = path;

        var check = await Runtime().CheckPrerequisitesAsync(TestContext.Current.CancellationToken);

        Assert.False(check.Satisfied);
        Assert.Contains("not executable", check.Problem, StringComparison.Ordinal);
        Assert.Contains("Workers:Runtimes:ClaudeCode:Command", check.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_agents_command_setting_wins()
    {
        var custom = Path.Combine(_cli.Bin, "my-claude");
        File.Move(_cli.Install("claude", SuccessStream), custom);

        var outcome = await _cli.RunAsync(Runtime(), new { command = custom });

        Assert.Equal(new AgentOutcome.Succeeded("All tests pass."), outcome);
    }

    [Fact]
    public async Task Invalid_settings_fail_without_starting_the_cli()
    {
        var outcome = Assert.IsType<AgentOutcome.Failed>(await _cli.RunAsync(Runtime(), new { permissionMode = "yolo", maxTurns = 0 }));

        Assert.Equal(CliFailureKinds.InvalidSettings, outcome.Kind);
        Assert.Contains("permissionMode must be one of", outcome.Error, StringComparison.Ordinal);
        Assert.Contains("maxTurns must be a whole number", outcome.Error, StringComparison.Ordinal);
    }
}
