using System.Diagnostics;
using System.Globalization;

using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

using Workers.Agents.Runtimes;

namespace Workers.Agents.Tests;

/// <summary>
/// An agent lives no longer than the worker that started it (Linux: setpriv's death signal and the supervisor shell), and
/// the launch chain that makes it so changes nothing else: stdin, exit codes, the SIGTERM grace period.
/// </summary>
public sealed class AgentLifetimeTests : IDisposable
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(3);

    private readonly TempDirectory _directory = new();
    private readonly RecordingSink _events = new();

    public void Dispose() => _directory.Dispose();

    private static CancellationToken TestCancellation => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(RuntimeNames.Process)]
    [InlineData(RuntimeNames.ClaudeCode)] // A CLI runtime: the fake CLI is started through the same launch chain.
    public async Task Killing_the_worker_with_sigkill_kills_its_agents_and_their_children(string runtime)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && AgentSupervisor.Available, "needs Linux with setsid and setpriv (util-linux)");
        var pidsFile = Path.Combine(_directory.Path, "pids");
        var agent = _directory.WriteScript(
            "agent.sh",
            $"""
            echo "$*" > "{pidsFile}.args"
            sleep 300 &
            echo "$PPID $$ $!" > "{pidsFile}.tmp" && mv "{pidsFile}.tmp" "{pidsFile}"
            wait
            """);
        using var host = StartHost(agent, runtime);
        try
        {
            var pids = await ReadPidsAsync(pidsFile, host);
            Assert.All(pids, pid => Assert.True(TestData.IsRunning(pid), $"process {pid} is not running"));

            Assert.True(ParentOf(pids[0]) == host.Id, $"the supervisor {pids[0]} is not a child of the worker {host.Id}");
            if (runtime == RuntimeNames.ClaudeCode)
            {
                // Started as a CLI is: flags and the prompt as arguments.
                Assert.Contains("--output-format stream-json", await File.ReadAllTextAsync(pidsFile + ".args", TestCancellation), StringComparison.Ordinal);
            }

            host.Kill(); // SIGKILL: the worker gets no chance to stop anything itself.
            await host.WaitForExitAsync(TestCancellation).WaitAsync(TestData.Guard, TestCancellation);

            // pids: the supervisor, the agent (or CLI), the agent's own child.
            Assert.True(await EventuallyAsync(() => !pids.Any(TestData.IsRunning), Prompt), $"still running {Prompt.TotalSeconds} s after the worker died: {string.Join(", ", pids.Where(TestData.IsRunning))}");
        }
        finally
        {
            if (!host.HasExited)
            {
                host.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task A_stray_death_signal_while_the_worker_lives_is_ignored()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && AgentSupervisor.Available, "needs Linux with setsid and setpriv (util-linux)");

        // SIGUSR2 to the whole group reaches the supervisor too; its parent is still the worker, so it must carry on.
        var outcome = await RunAsync(
            """
            trap '' USR2
            kill -USR2 0
            sleep 0.2
            echo '{"type":"result","output":"survived"}'
            """,
            TestCancellation);

        Assert.Equal(new AgentOutcome.Succeeded("survived"), outcome);
    }

    [Fact]
    public async Task A_run_started_from_a_thread_that_then_exits_keeps_running()
    {
        // The death signal follows the thread that forked the child; agents are forked from one long-lived thread instead.
        Task<AgentOutcome>? run = null;
        var thread = new Thread(() => run = RunAsync(
            """
            sleep 0.5
            echo '{"type":"result","output":"still here"}'
            """,
            TestCancellation));
        thread.Start();
        thread.Join();

        Assert.Equal(new AgentOutcome.Succeeded("still here"), await run!);
    }

    [Fact]
    public async Task Stdin_reaches_the_agent_through_the_supervisor()
    {
        var input = string.Join('\n', Enumerable.Range(1, 20_000).Select(i => $"line {i}")) + "\n";

        var outcome = await RunAsync(
            """
            lines=$(wc -l)
            echo "{\"type\":\"result\",\"output\":\"$lines lines\"}"
            """,
            TestCancellation,
            input);

        Assert.Equal(new AgentOutcome.Succeeded("20000 lines"), outcome);
    }

    [Theory]
    [InlineData("exit 42", 42)]
    [InlineData("exit 127", 127)]
    [InlineData("kill -9 $$", 137)]
    public async Task The_agents_exit_code_passes_through(string exit, int expected)
    {
        var outcome = await RunAsync($"echo working\n{exit}\n", TestCancellation);

        var failed = Assert.IsType<AgentOutcome.Failed>(outcome);
        Assert.Equal(ProcessRuntime.ExitCodeFailure, failed.Kind);
        Assert.Contains($"exited with code {expected.ToString(CultureInfo.InvariantCulture)}", failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cancelled_agent_still_gets_its_grace_period_to_report_on_stdout()
    {
        using var cancellation = new CancellationTokenSource();
        var runtime = new ProcessRuntime(
            Options.Create(new ProcessRuntimeOptions { TerminationGracePeriod = TimeSpan.FromSeconds(10) }),
            TimeProvider.System,
            NullLogger<ProcessRuntime>.Instance);
        var run = RunAsync(
            """
            trap 'sleep 0.5; echo "cleaned up after TERM"; exit 143' TERM
            echo ready
            sleep 300 &
            wait
            """,
            cancellation.Token,
            runtime: runtime);
        await _events.WaitForMessageAsync("ready").WaitAsync(TestData.Guard, TestCancellation);

        await cancellation.CancelAsync();
        var outcome = await run;

        Assert.Equal(new AgentOutcome.Cancelled("ready\ncleaned up after TERM"), outcome);
    }

    [Fact]
    public void Exec_failures_of_the_launch_chain_are_told_apart_from_the_agents_own_exit()
    {
        Assert.Equal("/a/b.sh: not found", AgentSupervisor.ExecFailure(127, $"{AgentSupervisor.Name}: 14: /a/b.sh: not found", "/a/b.sh"));
        Assert.Equal("/a/b.sh: No such file or directory", AgentSupervisor.ExecFailure(127, "setsid: failed to execute /a/b.sh: No such file or directory", "/a/b.sh"));
        Assert.Null(AgentSupervisor.ExecFailure(1, $"{AgentSupervisor.Name}: 14: /a/b.sh: not found", "/a/b.sh"));
        Assert.Null(AgentSupervisor.ExecFailure(127, "my-agent: command not found: jq", "/a/b.sh"));
    }

    [Fact]
    public async Task The_agent_starts_with_the_signal_dispositions_a_direct_child_would_have()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "reads /proc");

        // A shell's background job ignores SIGINT and SIGQUIT; the supervisor must not pass that on to the agent.
        var direct = new ProcessStartInfo("grep") { UseShellExecute = false, RedirectStandardOutput = true };
        direct.ArgumentList.Add("SigIgn");
        direct.ArgumentList.Add("/proc/self/status");
        using var child = Process.Start(direct)!;
        var expected = (await child.StandardOutput.ReadToEndAsync(TestCancellation)).Trim();
        await child.WaitForExitAsync(TestCancellation);

        var outcome = await RunAsync("exec grep SigIgn /proc/self/status\n", TestCancellation);

        Assert.Equal(new AgentOutcome.Succeeded(expected), outcome);
    }

    private Task<AgentOutcome> RunAsync(string script, CancellationToken cancellationToken, string input = "", ProcessRuntime? runtime = null) =>
        (runtime ?? new ProcessRuntime())
            .RunAsync(TestData.Invocation(_directory.Workspace, new { command = _directory.WriteScript($"agent-{Guid.NewGuid():N}.sh", script) }, input), _events, cancellationToken)
            .WaitAsync(TestData.Guard, TestCancellation);

    private Process StartHost(string agent, string runtime)
    {
        // The host is built next to this project (same configuration and framework), not copied into its output.
        var ownProject = Path.Combine(TestData.RepositoryRoot(), "tests", "Workers.Agents.Tests");
        var output = Path.GetRelativePath(ownProject, AppContext.BaseDirectory);
        var hostPath = Path.Combine(TestData.RepositoryRoot(), "tests", "Workers.Agents.TestHost", output, "Workers.Agents.TestHost");
        Assert.True(File.Exists(hostPath), $"test host not built: {hostPath}");

        var startInfo = new ProcessStartInfo(hostPath) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        startInfo.ArgumentList.Add(agent);
        startInfo.ArgumentList.Add(_directory.Workspace);
        startInfo.ArgumentList.Add(runtime);
        var host = Process.Start(startInfo)!;
        host.OutputDataReceived += (_, _) => { };
        host.ErrorDataReceived += (_, _) => { };
        host.BeginOutputReadLine();
        host.BeginErrorReadLine();
        return host;
    }

    private static async Task<int[]> ReadPidsAsync(string pidsFile, Process host)
    {
        Assert.True(await EventuallyAsync(() => File.Exists(pidsFile) || host.HasExited, TestData.Guard), "the agent never wrote its pids");
        Assert.False(host.HasExited, $"the test host exited early with code {(host.HasExited ? host.ExitCode : 0)}");
        var text = await File.ReadAllTextAsync(pidsFile, TestCancellation);
        return [.. text.Split(' ', StringSplitOptions.TrimEntries).Select(p => int.Parse(p, CultureInfo.InvariantCulture))];
    }

    /// <summary>The parent pid of a running process, from <c>/proc/PID/stat</c>.</summary>
    private static int ParentOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes (real processes, real time).</summary>
    private static async Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (!condition())
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                return false;
            }

            await Task.Delay(50, TestCancellation);
        }

        return true;
    }
}
