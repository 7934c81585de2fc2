using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace Workers.Agents.Runtimes;

/// <summary>
/// Ties the life of every process a worker starts for its agents to the worker's own (Linux), without a process per agent.
/// An agent leads a new session and process group (<see cref="AgentProcess"/>: spawned so, or behind setsid(1)), so the worker
/// can signal its whole tree, and is a direct child of the worker (its exit code is its own). Its environment carries
/// <see cref="OwnerVariable"/>, this worker's token, which every descendant inherits.
/// <para>
/// One reaper per worker (<c>setsid /bin/sh -c SCRIPT</c>, started with the first agent) blocks reading a pipe the worker holds
/// and never writes. When the worker dies (<c>kill -9</c>, OOM), the kernel closes that pipe; the reaper reads end of file and
/// kills every process whose environment carries the token, with the process group each one leads: the agents, their children,
/// and descendants that moved to a group of their own. It scans again for a second, for processes that were between fork and
/// exec at that moment. While the worker lives the reaper costs nothing (one blocked read).
/// </para>
/// </summary>
internal static class AgentSupervisor
{
    /// <summary>The environment variable that marks a process as started (directly or not) by this worker for an agent.</summary>
    public const string OwnerVariable = "WORKERS_AGENT_OWNER";

    /// <summary>Shown as <c>$0</c> of the reaper, so <c>ps</c> says what it is.</summary>
    public const string ReaperName = "workers-agent-reaper";

    // Traps, in order of appearance:
    // - Terminal signals (Ctrl+C reaches the whole foreground group) must not end the reaper while the worker drains and lives on;
    //   setsid already keeps it out of the worker's group, the trap covers a signal sent to it by mistake.
    // - read returns at end of file only (nothing is ever written); a line (should one come) is ignored.
    // - grep -z reads NUL-separated environments; -x -F: the whole entry, literally. Processes of other users are unreadable and skipped.
    // - kill -9 -PID ends the group a process leads (the agents lead theirs), kill -9 PID the process itself if it leads none.
    // - Five passes 0.2 s apart: a process being forked while the first pass ran shows the token once it has exec'd.
    private const string Script =
        """
        token=$1
        trap '' INT HUP
        while read -r _; do :; done
        reap() {
          for environ in $(grep -lzxF "WORKERS_AGENT_OWNER=$token" /proc/[0-9]*/environ 2>/dev/null); do
            pid=${environ#/proc/}; pid=${pid%/environ}
            [ "$pid" != "$$" ] || continue
            kill -9 -"$pid" 2>/dev/null; kill -9 "$pid" 2>/dev/null
          done
        }
        for pass in 1 2 3 4 5; do reap; sleep 0.2; done
        """;

    private const string Shell = "/bin/sh";

    private static readonly Lock ReaperLock = new();
    private static Process? s_reaper;

    /// <summary>setsid(1), util-linux (essential on Debian). Null where missing (or not Linux).</summary>
    public static string? Setsid { get; } = Find("setsid");

    /// <summary>grep(1) with <c>-z</c> (GNU), which the reaper scans environments with. Null where missing (or not Linux).</summary>
    public static string? Grep { get; } = Find("grep");

    /// <summary>
    /// True when this worker was started with SIGINT or SIGQUIT ignored, as a shell starts its background jobs (<c>workers-worker &amp;</c>
    /// in a script). Ignored signals are inherited across exec, so its agents would start with them ignored too: a shell or Python
    /// agent could then neither be interrupted (the CLI runtimes' graceful stop) nor trap the interrupt.
    /// </summary>
    public static bool InterruptsIgnored { get; } = ReadInterruptsIgnored();

    // env(1) of GNU coreutils 8.31 or later resets signals to their defaults (--default-signal) before it execs the rest in place.
    private static readonly Lazy<string?> s_signalResetter = new(FindSignalResetter);

    /// <summary>True when agents get their own process group (setsid exists).</summary>
    public static bool GroupsAvailable => Setsid is not null;

    /// <summary>True when agents are killed with the worker: setsid, grep and /bin/sh exist, and /proc is readable.</summary>
    public static bool Available { get; } = Setsid is not null && Grep is not null && File.Exists(Shell) && Directory.Exists("/proc/self");

    /// <summary>This worker process's token: unique per process, with its pid for whoever reads an environment by hand.</summary>
    public static string OwnerToken { get; } = $"{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}";

    /// <summary>The reaper's pid while it runs (for tests and diagnostics); null before the first agent or where unavailable.</summary>
    public static int? ReaperId
    {
        get
        {
            lock (ReaperLock)
            {
                return s_reaper is { HasExited: false } reaper ? reaper.Id : null;
            }
        }
    }

    /// <summary>
    /// Rewrites <paramref name="startInfo"/> (which names the agent itself) to start it behind setsid where that exists, and,
    /// when this worker was started with interrupts ignored (<see cref="InterruptsIgnored"/>), env resetting them in front of
    /// that. Each execs the next in place: the agent is still the worker's own child. For agents started by
    /// <see cref="System.Diagnostics.Process"/> (<see cref="ManagedAgentProcess"/>); returns true when the agent will lead its
    /// own process group.
    /// </summary>
    public static bool PrefixLauncher(ProcessStartInfo startInfo)
    {
        ArgumentNullException.ThrowIfNull(startInfo);
        if (Setsid is null)
        {
            return false;
        }

        List<string> launcher = InterruptsIgnored && s_signalResetter.Value is { } env ? [env, ResetInterrupts, Setsid] : [Setsid];
        startInfo.ArgumentList.Insert(0, startInfo.FileName);
        for (var i = launcher.Count - 1; i > 0; i--)
        {
            startInfo.ArgumentList.Insert(0, launcher[i]);
        }

        startInfo.FileName = launcher[0];
        return true;
    }

    private const string ResetInterrupts = "--default-signal=INT,QUIT";

    /// <summary>Whether SIGINT (bit 1) or SIGQUIT (bit 2) is set in the <c>SigIgn</c> mask of <c>/proc/self/status</c>.</summary>
    private static bool ReadInterruptsIgnored()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
            return line is not null
                && ulong.TryParse(line["SigIgn:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var ignored)
                && (ignored & 0b110) != 0;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>env, if it understands <c>--default-signal</c> (tried once, only by a worker whose interrupts are ignored).</summary>
    private static string? FindSignalResetter()
    {
        if (Find("env") is not { } env)
        {
            return null;
        }

        try
        {
            var check = new ProcessStartInfo(env) { UseShellExecute = false, RedirectStandardError = true };
            foreach (var argument in (ReadOnlySpan<string>)[ResetInterrupts, "true"])
            {
                check.ArgumentList.Add(argument);
            }

            using var process = Process.Start(check)!;
            process.StandardError.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0 ? env : null;
        }
        catch (Win32Exception)
        {
            return null;
        }
    }

    /// <summary>
    /// Marks what <paramref name="startInfo"/> starts as this worker's (after the caller has set its environment), with the
    /// reaper watching.
    /// </summary>
    public static void Mark(ProcessStartInfo startInfo)
    {
        ArgumentNullException.ThrowIfNull(startInfo);
        if (Available)
        {
            EnsureReaper();
            startInfo.Environment[OwnerVariable] = OwnerToken;
        }
    }

    /// <summary>Starts <paramref name="process"/> marked as this worker's (<see cref="Mark"/>). Throws what <see cref="Process.Start()"/> throws.</summary>
    public static void Start(Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        Mark(process.StartInfo);
        process.Start();
    }

    /// <summary>
    /// The reason <paramref name="executable"/> could not be executed, when the exit code and stderr say setsid failed to
    /// execute it (e.g. a script whose #! names a missing interpreter); null otherwise.
    /// </summary>
    public static string? ExecFailure(int exitCode, string stderr, string executable)
    {
        // setsid(1): "setsid: failed to execute /path: No such file or directory" (exit 126 or 127).
        const string SetsidFailure = "setsid: failed to execute ";
        return exitCode is 126 or 127 && stderr.StartsWith(SetsidFailure + executable, StringComparison.Ordinal)
            ? stderr[SetsidFailure.Length..].Split('\n')[0]
            : null;
    }

    /// <summary>Starts the reaper on first use, and again if it has died (someone killed it): agents are never left unwatched.</summary>
    private static void EnsureReaper()
    {
        lock (ReaperLock)
        {
            if (s_reaper is { HasExited: false })
            {
                return;
            }

            s_reaper?.Dispose();
            var startInfo = new ProcessStartInfo(Setsid!) { UseShellExecute = false, RedirectStandardInput = true };
            foreach (var argument in (ReadOnlySpan<string>)[Shell, "-c", Script, ReaperName, OwnerToken])
            {
                startInfo.ArgumentList.Add(argument);
            }

            try
            {
                // Its stdin is the pipe: the worker keeps the write end open (close-on-exec, so no agent inherits it) until it dies.
                s_reaper = Process.Start(startInfo);
            }
            catch (Win32Exception)
            {
                // Checked by Available; should it still fail, agents run as they would without it rather than not at all.
                s_reaper = null;
            }
        }
    }

    private static string? Find(string name) =>
        OperatingSystem.IsLinux() ? Array.Find([$"/usr/bin/{name}", $"/bin/{name}"], File.Exists) : null;
}
