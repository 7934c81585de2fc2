using System.Globalization;

using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

using Workers.Agents.Runtimes;

namespace Workers.Agents.Tests;

/// <summary>The process runtime against real child processes (small bash scripts written per test).</summary>
public sealed class ProcessRuntimeTests : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly RecordingSink _events = new();
    private readonly ProcessRuntime _runtime = new();

    public void Dispose() => _directory.Dispose();

    private static CancellationToken TestCancellation => TestContext.Current.CancellationToken;

    private Task<AgentOutcome> RunAsync(string script, string input = "") =>
        RunSettingsAsync(new { command = _directory.WriteScript("agent.sh", script) }, input);

    private Task<AgentOutcome> RunSettingsAsync(object settings, string input = "") =>
        RunWithAsync(_runtime, settings, input, TestCancellation);

    private Task<AgentOutcome> RunCancellableAsync(string script, ProcessRuntime runtime, CancellationToken cancellationToken) =>
        RunWithAsync(runtime, new { command = _directory.WriteScript("agent.sh", script) }, "", cancellationToken);

    private Task<AgentOutcome> RunWithAsync(ProcessRuntime runtime, object settings, string input, CancellationToken cancellationToken) =>
        runtime
            .RunAsync(TestData.Invocation(_directory.Workspace, settings, input), _events, cancellationToken)
            .WaitAsync(TestData.Guard, TestCancellation);

    [Fact]
    public async Task Events_are_streamed_and_the_result_event_is_the_output()
    {
        var outcome = await RunAsync(
            """
            read -r input
            echo '{"type":"message","text":"thinking"}'
            echo '{"type":"tool_started","tool":"grep","input":"needle","callId":"c1"}'
            echo '{"type":"tool_completed","tool":"grep","output":"3 matches","isError":false,"callId":"c1"}'
            echo '{"type":"usage","steps":1,"inputTokens":10,"outputTokens":5,"costUsd":0.001}'
            echo "{\"type\":\"result\",\"output\":\"you said $input\"}"
            """,
            "hello\n");

        Assert.Equal(new AgentOutcome.Succeeded("you said hello"), outcome);
        Assert.Equal<AgentEvent>(
            [
                new AgentEvent.Message("thinking"),
                new AgentEvent.ToolStarted("grep", "needle", "c1"),
                new AgentEvent.ToolCompleted("grep", "3 matches", IsError: false, "c1"),
                new AgentEvent.Usage(1, 10, 5, 0.001m),
            ],
            _events.Events);
    }

    [Fact]
    public async Task Plain_lines_are_messages_and_become_the_output_when_there_is_no_result()
    {
        var outcome = await RunAsync(
            """
            echo "first line"
            echo '{"type":"usage","steps":1}'
            echo '{"type":"surprise","text":"unknown type"}'
            echo "last line"
            """);

        Assert.Equal(new AgentOutcome.Succeeded("first line\n{\"type\":\"surprise\",\"text\":\"unknown type\"}\nlast line"), outcome);
        Assert.Contains(new AgentEvent.Message("first line"), _events.Events);
        Assert.Contains(new AgentEvent.Message("last line"), _events.Events);
    }

    [Fact]
    public async Task The_agent_gets_its_input_arguments_environment_and_workspace()
    {
        var outcome = await RunSettingsAsync(
            new
            {
                command = _directory.WriteScript(
                    "agent.sh",
                    """
                    input=$(cat)
                    echo "input=$input"
                    echo "args=$*"
                    echo "greeting=$GREETING"
                    echo "attempt=$WORKERS_ATTEMPT"
                    echo "run=$WORKERS_RUN_ID"
                    echo "workspace=$WORKERS_WORKSPACE"
                    echo "agent=$WORKERS_AGENT"
                    echo "cwd=$(pwd)"
                    echo "home-is-inherited=${HOME:+yes}"
                    """),
                args = new[] { "--flag", "two words" },
                env = new { GREETING = "hello", WORKERS_ATTEMPT = "overridden?" },
            },
            "the task");

        var output = Assert.IsType<AgentOutcome.Succeeded>(outcome).Output.Split('\n');
        Assert.Contains("input=the task", output);
        Assert.Contains("args=--flag two words", output);
        Assert.Contains("greeting=hello", output);
        Assert.Contains("attempt=1", output);
        Assert.Contains(output, line => line.StartsWith("run=", StringComparison.Ordinal) && Guid.TryParse(line[4..], out _));
        Assert.Contains($"workspace={_directory.Workspace}", output);
        Assert.Contains($"cwd={_directory.Workspace}", output);
        Assert.Contains("agent=test-agent", output);
        Assert.Contains("home-is-inherited=yes", output);
    }

    [Fact]
    public async Task A_relative_command_resolves_against_the_base_directory()
    {
        _directory.WriteScript("agents/hello.sh", """echo '{"type":"result","output":"hi"}'""");

        var outcome = await RunSettingsAsync(new { command = "agents/hello.sh", baseDirectory = _directory.Path });

        Assert.Equal(new AgentOutcome.Succeeded("hi"), outcome);
    }

    [Fact]
    public async Task A_bare_command_is_found_on_the_path()
    {
        var outcome = await RunSettingsAsync(new { command = "echo", args = new[] { """{"type":"result","output":"from PATH"}""" } });

        Assert.Equal(new AgentOutcome.Succeeded("from PATH"), outcome);
    }

    [Fact]
    public async Task A_non_zero_exit_is_a_retryable_failure_with_the_exit_code_and_the_end_of_stderr()
    {
        var outcome = await RunAsync(
            """
            for i in $(seq 1 50); do echo "noise $i" >&2; done
            echo "partial work"
            exit 3
            """);

        var failed = Assert.IsType<AgentOutcome.Failed>(outcome);
        Assert.Equal(ProcessRuntime.ExitCodeFailure, failed.Kind);
        Assert.True(failed.Retryable);
        Assert.StartsWith("Agent 'test-agent' exited with code 3 without reporting an error. Last lines of stderr:\n", failed.Error, StringComparison.Ordinal);
        Assert.EndsWith("noise 31\nnoise 32\n" + string.Join('\n', Enumerable.Range(33, 18).Select(i => $"noise {i}")), failed.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("noise 30\n", failed.Error, StringComparison.Ordinal);
        Assert.Equal("partial work", failed.Output);
        Assert.Contains(new AgentEvent.Log("noise 1"), _events.Events);
    }

    [Fact]
    public async Task An_error_event_is_a_failure_with_its_message_not_retryable_by_default()
    {
        var outcome = await RunAsync(
            """
            echo '{"type":"error","message":"the model refused"}'
            echo '{"type":"error","message":"a later error","retryable":true}'
            echo '{"type":"result","output":"ignored"}'
            exit 0
            """);

        Assert.Equal(new AgentOutcome.Failed("the model refused", ProcessRuntime.AgentErrorFailure, Retryable: false, "ignored"), outcome);
    }

    [Fact]
    public async Task An_error_event_may_ask_for_a_retry()
    {
        var outcome = await RunAsync(
            """
            echo '{"type":"error","message":"rate limited","retryable":true}'
            exit 1
            """);

        Assert.Equal(new AgentOutcome.Failed("rate limited", ProcessRuntime.AgentErrorFailure, Retryable: true, ""), outcome);
    }

    [Fact]
    public async Task A_missing_command_is_a_prerequisite_failure_naming_the_command_and_the_agent()
    {
        var outcome = await RunSettingsAsync(new { command = "agents/missing.sh", baseDirectory = _directory.Path });

        var failed = Assert.IsType<AgentOutcome.Failed>(outcome);
        Assert.Equal(ProcessRuntime.PrerequisiteFailure, failed.Kind);
        Assert.False(failed.Retryable);
        Assert.Equal(
            $"Agent 'test-agent' cannot run: command 'agents/missing.sh' was not found (looked for {Path.Combine(_directory.Path, "agents/missing.sh")}). Check 'command' in the agent's process settings.",
            failed.Error);
    }

    [Fact]
    public async Task A_command_missing_from_the_path_is_a_prerequisite_failure()
    {
        var outcome = await RunSettingsAsync(new { command = "no-such-agent-binary", env = new { PATH = "/nonexistent" } });

        var failed = Assert.IsType<AgentOutcome.Failed>(outcome);
        Assert.Equal(ProcessRuntime.PrerequisiteFailure, failed.Kind);
        Assert.Contains("command 'no-such-agent-binary' was not found on PATH (/nonexistent)", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_command_that_is_not_executable_is_a_prerequisite_failure_that_says_how_to_fix_it()
    {
        var script = _directory.WriteFile("agent.sh", "#!/usr/bin/env bash\necho hi\n");

        var outcome = await RunSettingsAsync(new { command = script });

        var failed = Assert.IsType<AgentOutcome.Failed>(outcome);
        Assert.Equal(ProcessRuntime.PrerequisiteFailure, failed.Kind);
        Assert.Contains($"is not executable; make it so with: chmod +x {script}", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_script_with_a_broken_interpreter_line_is_a_prerequisite_failure()
    {
        var script = _directory.WriteFile("agent.sh", "#!/nonexistent/interpreter\necho hi\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        }

        var outcome = await RunSettingsAsync(new { command = script });

        var failed = Assert.IsType<AgentOutcome.Failed>(outcome);
        Assert.Equal(ProcessRuntime.PrerequisiteFailure, failed.Kind);
        Assert.Contains("could not be started", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unusable_settings_are_a_non_retryable_failure()
    {
        var outcome = await RunSettingsAsync(new { args = new[] { "x" } });

        var failed = Assert.IsType<AgentOutcome.Failed>(outcome);
        Assert.Equal(ProcessRuntime.InvalidSettingsFailure, failed.Kind);
        Assert.False(failed.Retryable);
        Assert.Contains("command is required", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_workspace_that_cannot_be_created_is_a_retryable_failure()
    {
        var blocker = _directory.WriteFile("blocker", "a file where the workspace's parent should be");
        var invocation = TestData.Invocation(Path.Combine(blocker, "workspace"), new { command = "/bin/true" });

        var outcome = await _runtime.RunAsync(invocation, _events, TestCancellation).WaitAsync(TestData.Guard, TestCancellation);

        var failed = Assert.IsType<AgentOutcome.Failed>(outcome);
        Assert.Equal(ProcessRuntime.WorkspaceFailure, failed.Kind);
        Assert.True(failed.Retryable);
    }

    [Fact]
    public async Task Malformed_partial_and_binary_lines_are_plain_output()
    {
        var outcome = await RunAsync(
            """
            echo '{"type":'
            echo '{"type":"message","text":"ok"} trailing'
            echo '{not json at all}'
            echo '{"type":"usage","steps":"many","costUsd":-3}'
            printf '\xff\xfe\x00binary\n'
            printf '{"type":"message","text":"no newline at the end"}'
            """);

        var output = Assert.IsType<AgentOutcome.Succeeded>(outcome).Output;
        Assert.StartsWith("{\"type\":\n{\"type\":\"message\",\"text\":\"ok\"} trailing\n{not json at all}\n", output, StringComparison.Ordinal);
        Assert.Contains(new AgentEvent.Usage(0, 0, 0, 0), _events.Events);
        Assert.Contains(new AgentEvent.Message("no newline at the end"), _events.Events);
    }

    [Fact]
    public async Task Cancellation_kills_the_process_tree_and_returns_cancelled()
    {
        using var cancellation = new CancellationTokenSource();
        var run = RunCancellableAsync(
            """
            sleep 300 &
            echo "pids $$ $!"
            wait
            """,
            _runtime,
            cancellation.Token);
        var pids = (await _events.WaitForMessageAsync("pids ").WaitAsync(TestData.Guard, TestCancellation)).Text.Split(' ')[1..]
            .Select(p => int.Parse(p, CultureInfo.InvariantCulture))
            .ToArray();
        Assert.All(pids, pid => Assert.True(TestData.IsRunning(pid)));

        await cancellation.CancelAsync();
        var outcome = await run;

        Assert.Equal(new AgentOutcome.Cancelled($"pids {pids[0]} {pids[1]}"), outcome);
        Assert.All(pids, pid => Assert.False(TestData.IsRunning(pid), $"process {pid} still runs"));
    }

    [Fact]
    public async Task Cancellation_also_stops_processes_already_orphaned_by_the_agent()
    {
        using var cancellation = new CancellationTokenSource();

        // The subshell exits at once, so its sleep is re-parented away from the agent's process tree before the cancel.
        var run = RunCancellableAsync(
            """
            ( sleep 300 & echo "orphan $!" )
            sleep 300
            """,
            _runtime,
            cancellation.Token);
        var orphan = int.Parse((await _events.WaitForMessageAsync("orphan ").WaitAsync(TestData.Guard, TestCancellation)).Text[7..], CultureInfo.InvariantCulture);

        await cancellation.CancelAsync();
        var outcome = await run;

        Assert.IsType<AgentOutcome.Cancelled>(outcome);
        Assert.False(TestData.IsRunning(orphan), $"orphaned process {orphan} still runs");
    }

    [Fact]
    public async Task Processes_the_agent_leaves_running_are_stopped_when_it_exits()
    {
        var outcome = await RunAsync(
            """
            sleep 300 &
            echo "left $!"
            echo '{"type":"result","output":"done"}'
            """);

        Assert.Equal(new AgentOutcome.Succeeded("done"), outcome);
        var left = int.Parse(_events.Events.OfType<AgentEvent.Message>().Single(m => m.Text.StartsWith("left ", StringComparison.Ordinal)).Text[5..], CultureInfo.InvariantCulture);
        Assert.False(TestData.IsRunning(left), $"process {left} still runs");
    }

    [Fact]
    public async Task Cancellation_sends_sigterm_first_so_the_agent_can_clean_up()
    {
        using var cancellation = new CancellationTokenSource();
        var run = RunCancellableAsync(
            """
            trap 'echo cleaned up > "$WORKERS_WORKSPACE/cleanup"; exit 0' TERM
            echo ready
            sleep 300 &
            wait
            """,
            _runtime,
            cancellation.Token);
        await _events.WaitForMessageAsync("ready").WaitAsync(TestData.Guard, TestCancellation);

        await cancellation.CancelAsync();
        var outcome = await run;

        Assert.IsType<AgentOutcome.Cancelled>(outcome);
        Assert.Equal("cleaned up\n", await File.ReadAllTextAsync(Path.Combine(_directory.Workspace, "cleanup"), TestCancellation));
    }

    [Fact]
    public async Task An_agent_that_ignores_sigterm_is_killed_after_the_grace_period()
    {
        var runtime = new ProcessRuntime(
            Options.Create(new ProcessRuntimeOptions { TerminationGracePeriod = TimeSpan.FromMilliseconds(300) }),
            TimeProvider.System,
            NullLogger<ProcessRuntime>.Instance);
        using var cancellation = new CancellationTokenSource();
        var run = RunCancellableAsync(
            """
            trap '' TERM
            sleep 300 &
            echo "pids $$ $!"
            wait
            """,
            runtime,
            cancellation.Token);
        var pids = (await _events.WaitForMessageAsync("pids ").WaitAsync(TestData.Guard, TestCancellation)).Text.Split(' ')[1..]
            .Select(p => int.Parse(p, CultureInfo.InvariantCulture))
            .ToArray();

        await cancellation.CancelAsync();
        var outcome = await run;

        Assert.IsType<AgentOutcome.Cancelled>(outcome);
        Assert.All(pids, pid => Assert.False(TestData.IsRunning(pid), $"process {pid} still runs"));
    }

    // An agent that survives SIGTERM and says so, for the abort: what a lapsed lease does to a run (its worker may no
    // longer hold it, so no grace period is left to give).
    private const string SigtermSurvivor =
        """
        trap 'echo term >> "$WORKERS_WORKSPACE/signals"' TERM
        sleep 300 &
        echo "pids $$ $!"
        while :; do wait; done
        """;

    private (Task<AgentOutcome> Run, CancellationTokenSource Stop, CancellationTokenSource Abort) StartSigtermSurvivor()
    {
        // A grace far longer than the test's guard: only the abort can end these runs in time.
        var runtime = new ProcessRuntime(
            Options.Create(new ProcessRuntimeOptions { TerminationGracePeriod = TimeSpan.FromMinutes(5) }),
            TimeProvider.System,
            NullLogger<ProcessRuntime>.Instance);
        var stop = new CancellationTokenSource();
        var abort = new CancellationTokenSource();
        var invocation = TestData.Invocation(_directory.Workspace, new { command = _directory.WriteScript("agent.sh", SigtermSurvivor) }) with
        {
            Abort = abort.Token,
        };
        return (runtime.RunAsync(invocation, _events, stop.Token).WaitAsync(TestData.Guard, TestCancellation), stop, abort);
    }

    private async Task<int[]> AgentPidsAsync() =>
        (await _events.WaitForMessageAsync("pids ").WaitAsync(TestData.Guard, TestCancellation)).Text.Split(' ')[1..]
            .Select(p => int.Parse(p, CultureInfo.InvariantCulture))
            .ToArray();

    [Fact]
    public async Task An_aborted_run_is_killed_at_once_without_a_sigterm_or_its_grace_period()
    {
        var (run, stop, abort) = StartSigtermSurvivor();
        using (stop)
        using (abort)
        {
            var pids = await AgentPidsAsync();

            // As the worker does: the abort first, then the stop.
            await abort.CancelAsync();
            await stop.CancelAsync();
            var outcome = await run;

            Assert.IsType<AgentOutcome.Cancelled>(outcome);
            Assert.All(pids, pid => Assert.False(TestData.IsRunning(pid), $"process {pid} still runs"));
            Assert.False(File.Exists(Path.Combine(_directory.Workspace, "signals")), "the agent was sent SIGTERM");
        }
    }

    [Fact]
    public async Task An_abort_during_the_grace_period_of_a_stop_kills_the_agent_at_once()
    {
        var (run, stop, abort) = StartSigtermSurvivor();
        using (stop)
        using (abort)
        {
            var pids = await AgentPidsAsync();
            await stop.CancelAsync();
            var signals = Path.Combine(_directory.Workspace, "signals");
            while (!File.Exists(signals))
                await Task.Delay(20, TestCancellation);
            Assert.False(run.IsCompleted, "the agent ignores SIGTERM, so its grace period of 5 minutes has begun");

            await abort.CancelAsync();
            var outcome = await run;

            Assert.IsType<AgentOutcome.Cancelled>(outcome);
            Assert.All(pids, pid => Assert.False(TestData.IsRunning(pid), $"process {pid} still runs"));
        }
    }

    [Fact]
    public async Task A_run_cancelled_before_it_starts_returns_cancelled_without_starting_the_agent()
    {
        var marker = Path.Combine(_directory.Path, "started");

        var outcome = await RunCancellableAsync($"touch '{marker}'", _runtime, new CancellationToken(canceled: true));

        Assert.Equal(new AgentOutcome.Cancelled(), outcome);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public async Task Megabytes_on_stdout_and_stderr_with_unread_stdin_do_not_deadlock()
    {
        var input = new string('i', 1_000_000);

        var outcome = await RunAsync(
            """
            { head -c 5000000 /dev/zero | tr '\0' 'o' | fold -w 99; echo; } &
            { head -c 5000000 /dev/zero | tr '\0' 'e' | fold -w 99; echo; } >&2 &
            wait
            echo "{\"type\":\"result\",\"output\":\"read $(wc -c) bytes\"}"
            """,
            input);

        Assert.Equal(new AgentOutcome.Succeeded("read 1000000 bytes"), outcome);
        Assert.Equal(2 * 50_506, _events.Events.Count(e => e is AgentEvent.Message or AgentEvent.Log));
    }

    [Fact]
    public async Task A_huge_single_line_is_cut_and_the_stored_output_keeps_its_end()
    {
        var outcome = await RunAsync(
            """
            head -c 5000000 /dev/zero | tr '\0' 'x'
            echo
            echo the end
            """);

        var output = Assert.IsType<AgentOutcome.Succeeded>(outcome).Output;
        var note = $"[output truncated: only the last {256 * 1024} characters are kept]\n";
        Assert.StartsWith(note, output, StringComparison.Ordinal);
        Assert.EndsWith("xxx\nthe end", output, StringComparison.Ordinal);
        Assert.Equal(note.Length + (256 * 1024), output.Length);
        Assert.All(_events.Events.OfType<AgentEvent.Message>(), m => Assert.True(m.Text.Length <= (64 * 1024) + 40));
    }

    [Fact]
    public async Task An_agent_that_never_reads_its_input_still_succeeds()
    {
        var outcome = await RunSettingsAsync(new { command = "/bin/echo", args = new[] { """{"type":"result","output":"ok"}""" } }, new string('x', 1_000_000));

        Assert.Equal(new AgentOutcome.Succeeded("ok"), outcome);
    }

    [Fact]
    public async Task A_sink_that_throws_does_not_stop_the_run()
    {
        var outcome = await new ProcessRuntime()
            .RunAsync(
                TestData.Invocation(_directory.Workspace, new { command = _directory.WriteScript("agent.sh", "seq 1 1000\necho done >&2\necho '{\"type\":\"result\",\"output\":\"ok\"}'") }),
                new ThrowingSink(),
                TestCancellation)
            .WaitAsync(TestData.Guard, TestCancellation);

        Assert.Equal(new AgentOutcome.Succeeded("ok"), outcome);
    }

    [Fact]
    public async Task The_process_runtime_has_no_global_prerequisite()
    {
        Assert.Equal(PrerequisiteCheck.Ok, await _runtime.CheckPrerequisitesAsync(TestCancellation));
        Assert.Equal("process", _runtime.Name);
    }

    private sealed class ThrowingSink : IAgentEventSink
    {
        public void Emit(AgentEvent agentEvent) => throw new InvalidOperationException("sink is broken");
    }
}
