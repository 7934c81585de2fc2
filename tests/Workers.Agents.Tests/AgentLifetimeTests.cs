using System.Diagnostics;
using System.Globalization;

using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

using Workers.Agents.Runtimes;

namespace Workers.Agents.Tests;

/// <summary>
/// An agent lives no longer than the worker that started it (Linux: the worker's reaper), and what makes it so changes
/// nothing else: stdin, exit codes, signal dispositions, the SIGTERM grace period.
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
        Assert.SkipUnless(OperatingSystem.IsLinux() && AgentSupervisor.Available, "needs Linux with setsid (util-linux) and grep");
        var pidsFile = Path.Combine(_directory.Path, "pids");
        // A child in the agent's group, and one that left it for a session of its own (out of reach of a group kill; setsid
        // execs in place here, as the job is no group leader, so $! is that sleep).
        var agent = _directory.WriteScript(
            "agent.sh",
            $"""
            echo "$*" > "{pidsFile}.args"
            sleep 300 &
            child=$!
            setsid sleep 301 &
            escaped=$!
            echo "$PPID $$ $child $escaped" > "{pidsFile}.tmp" && mv "{pidsFile}.tmp" "{pidsFile}"
            wait
            """);
        using var host = StartHost(agent, runtime);
        try
        {
            var all = await ReadPidsAsync(pidsFile, host);
            // The agent (or CLI) is the worker's own child: nothing runs between them.
            Assert.Equal(host.Id, all[0]);
            var pids = all[1..];
            Assert.All(pids, pid => Assert.True(TestData.IsRunning(pid), $"process {pid} is not running"));
            if (runtime == RuntimeNames.ClaudeCode)
            {
                // Started as a CLI is: flags and the prompt as arguments.
                Assert.Contains("--output-format stream-json", await File.ReadAllTextAsync(pidsFile + ".args", TestCancellation), StringComparison.Ordinal);
            }

            host.Kill(); // SIGKILL: the worker gets no chance to stop anything itself.
            await host.WaitForExitAsync(TestCancellation).WaitAsync(TestData.Guard, TestCancellation);

            // pids: the agent (or CLI), its child in its group, its child in a session of its own.
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
    public async Task A_reaper_killed_by_mistake_is_started_again_before_the_next_agent()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && AgentSupervisor.Available, "needs Linux with setsid (util-linux) and grep");
        Assert.Equal(new AgentOutcome.Succeeded("one"), await RunAsync("""echo '{"type":"result","output":"one"}'""", TestCancellation));
        var first = AgentSupervisor.ReaperId;
        Assert.NotNull(first);

        using (var reaper = Process.GetProcessById(first.Value))
        {
            reaper.Kill();
            await reaper.WaitForExitAsync(TestCancellation).WaitAsync(TestData.Guard, TestCancellation);
        }

        Assert.Equal(new AgentOutcome.Succeeded("two"), await RunAsync("""echo '{"type":"result","output":"two"}'""", TestCancellation));
        var second = AgentSupervisor.ReaperId;
        Assert.NotNull(second);
        Assert.NotEqual(first, second);
    }

    [Fact]
    public async Task The_agent_carries_the_workers_owner_mark_and_the_reaper_waits_beside_it()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && AgentSupervisor.Available, "needs Linux with setsid (util-linux) and grep");

        var outcome = await RunAsync("""echo "{\"type\":\"result\",\"output\":\"$WORKERS_AGENT_OWNER\"}" """, TestCancellation);

        Assert.Equal(new AgentOutcome.Succeeded(AgentSupervisor.OwnerToken), outcome);
        Assert.NotNull(AgentSupervisor.ReaperId);
        Assert.True(TestData.IsRunning(AgentSupervisor.ReaperId!.Value));
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
        Assert.Equal("/a/b.sh: No such file or directory", AgentSupervisor.ExecFailure(127, "setsid: failed to execute /a/b.sh: No such file or directory", "/a/b.sh"));
        Assert.Equal("/a/b.sh: Permission denied", AgentSupervisor.ExecFailure(126, "setsid: failed to execute /a/b.sh: Permission denied", "/a/b.sh"));
        Assert.Null(AgentSupervisor.ExecFailure(1, "setsid: failed to execute /a/b.sh: No such file or directory", "/a/b.sh"));
        Assert.Null(AgentSupervisor.ExecFailure(127, "my-agent: command not found: jq", "/a/b.sh"));
    }

    [Fact]
    public async Task The_agent_starts_with_every_signal_at_its_default_and_none_blocked()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && SpawnedAgentProcess.Supported, "spawns agents with posix_spawn (Linux, glibc 2.36)");

        // The worker itself ignores some (the .NET runtime ignores SIGPIPE, and exec keeps an ignored signal ignored), as may
        // whatever started it (a shell's background job: SIGINT, SIGQUIT); the agent starts clean all the same.
        var outcome = Assert.IsType<AgentOutcome.Succeeded>(await RunAsync("exec grep -E '^Sig(Ign|Blk):' /proc/self/status\n", TestCancellation));

        var masks = outcome.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, masks.Length);
        Assert.All(masks, line => Assert.Equal(0ul, Mask(line)));
    }

    private const ulong Interrupts = 0b110; // SIGINT and SIGQUIT in a SigIgn mask

    /// <summary>The mask of a <c>SigIgn:</c> or <c>SigBlk:</c> line of /proc/PID/status.</summary>
    private static ulong Mask(string line) =>
        ulong.Parse(line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_worker_started_with_interrupts_ignored_starts_its_agents_with_them_at_their_defaults()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && AgentSupervisor.GroupsAvailable, "needs Linux with setsid (util-linux)");
        var agent = _directory.WriteScript("masks.sh", "echo \"worker $(grep SigIgn /proc/$PPID/status | cut -f2) agent $(grep SigIgn /proc/self/status | cut -f2)\"\n");
        var (printed, errors) = await RunHostWithInterruptsIgnoredAsync(agent);

        var masks = System.Text.RegularExpressions.Regex.Match(printed, "worker ([0-9a-f]+) agent ([0-9a-f]+)");
        Assert.True(masks.Success, $"the agent did not print its masks: {printed} {errors}");
        Assert.Equal(Interrupts, Mask(masks.Groups[1].Value) & Interrupts);
        Assert.Equal(0ul, Mask(masks.Groups[2].Value) & Interrupts);
    }

    [Fact]
    public async Task The_fallback_launcher_of_a_worker_started_with_interrupts_ignored_resets_them_and_keeps_the_agent_its_direct_child()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && AgentSupervisor.GroupsAvailable, "needs Linux with setsid (util-linux)");
        // Where a worker cannot spawn directly it starts `env --default-signal=INT,QUIT setsid AGENT` (when its own interrupts
        // are ignored), each exec'ing the next in place: the agent must get its interrupts back, lead a session of its own
        // and still be the worker's child.
        var agent = _directory.WriteScript("lineage.sh", """
            read -r -a stat < /proc/self/stat
            echo "worker $(grep SigIgn /proc/$PPID/status | cut -f2) agent $(grep SigIgn /proc/self/status | cut -f2) pid $$ parent $PPID session ${stat[5]}"
            """);
        var (printed, errors) = await RunHostWithInterruptsIgnoredAsync(agent, "managed");

        var seen = System.Text.RegularExpressions.Regex.Match(printed, "worker ([0-9a-f]+) agent ([0-9a-f]+) pid ([0-9]+) parent ([0-9]+) session ([0-9]+)");
        Assert.True(seen.Success, $"the agent did not print its lineage: {printed} {errors}");
        var hostPid = System.Text.RegularExpressions.Regex.Match(printed, "host ([0-9]+)");
        Assert.True(hostPid.Success, $"the host did not print its pid: {printed}");
        Assert.Equal(Interrupts, Mask(seen.Groups[1].Value) & Interrupts);
        Assert.Equal(0ul, Mask(seen.Groups[2].Value) & Interrupts);
        Assert.Equal(hostPid.Groups[1].Value, seen.Groups[4].Value);
        Assert.Equal(seen.Groups[3].Value, seen.Groups[5].Value);
    }

    /// <summary>
    /// Runs the test host (the worker) as a shell's background job would start it, SIGINT and SIGQUIT ignored (env(1) sets that
    /// up), on <paramref name="agent"/>; returns what it printed. Skips where env(1) cannot ignore signals.
    /// </summary>
    private async Task<(string Printed, string Errors)> RunHostWithInterruptsIgnoredAsync(string agent, string? mode = null)
    {
        var ignoring = new ProcessStartInfo("env") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (ReadOnlySpan<string>)["--ignore-signal=INT,QUIT", HostPath(), agent, _directory.Workspace])
        {
            ignoring.ArgumentList.Add(argument);
        }

        if (mode is not null)
        {
            ignoring.ArgumentList.Add(mode);
        }

        using var host = Process.Start(ignoring)!;
        var printed = await host.StandardOutput.ReadToEndAsync(TestCancellation).WaitAsync(TestData.Guard, TestCancellation);
        var errors = await host.StandardError.ReadToEndAsync(TestCancellation);
        await host.WaitForExitAsync(TestCancellation);
        Assert.SkipWhen(errors.Contains("--ignore-signal", StringComparison.Ordinal), "env(1) here has no --ignore-signal (GNU coreutils 8.31+)");
        return (printed, errors);
    }

    private Task<AgentOutcome> RunAsync(string script, CancellationToken cancellationToken, string input = "", ProcessRuntime? runtime = null) =>
        (runtime ?? new ProcessRuntime())
            .RunAsync(TestData.Invocation(_directory.Workspace, new { command = _directory.WriteScript($"agent-{Guid.NewGuid():N}.sh", script) }, input), _events, cancellationToken)
            .WaitAsync(TestData.Guard, TestCancellation);

    private static string HostPath()
    {
        // The host is built next to this project (same configuration and framework), not copied into its output.
        var ownProject = Path.Combine(TestData.RepositoryRoot(), "tests", "Workers.Agents.Tests");
        var output = Path.GetRelativePath(ownProject, AppContext.BaseDirectory);
        var hostPath = Path.Combine(TestData.RepositoryRoot(), "tests", "Workers.Agents.TestHost", output, "Workers.Agents.TestHost");
        Assert.True(File.Exists(hostPath), $"test host not built: {hostPath}");
        return hostPath;
    }

    private Process StartHost(string agent, string runtime)
    {
        var startInfo = new ProcessStartInfo(HostPath()) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
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
