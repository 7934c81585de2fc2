using System.Diagnostics;
using System.Globalization;

namespace Workers.Agents.Runtimes;

/// <summary>
/// The launch chain that ties an agent's life to the worker's (Linux). The child is
/// <c>setsid setpriv --pdeathsig USR2 -- /bin/sh -c SCRIPT workers-agent-supervisor WORKER_PID AGENT ARGS...</c>:
/// setsid(1) makes it the leader of a new session and process group, setpriv(1) asks the kernel for SIGUSR2 when its
/// parent dies, and the shell is a small supervisor that starts the agent in that group and waits for it. When the worker
/// dies (<c>kill -9</c>, OOM), the supervisor gets SIGUSR2 and SIGKILLs its whole process group: the agent and every
/// descendant that stayed in the group. All three exec in place, so the process the worker sees is the supervisor, the
/// group leader, and its exit code is the agent's.
/// </summary>
/// <remarks>
/// Traps: PR_SET_PDEATHSIG fires when the parent <em>thread</em> exits, not the process, so agents must be forked from a
/// thread that lives as long as the worker (<see cref="ProcessSpawner"/>); the supervisor also checks that its parent
/// really changed before killing, so a stray SIGUSR2 is harmless. The death signal is cleared on fork, which is why the
/// supervisor, not the agent, receives it. SIGUSR2 is never sent by cancellation (SIGINT or SIGTERM, which the supervisor
/// passes on to the agent, then SIGKILL).
/// </remarks>
internal static class AgentSupervisor
{
    /// <summary>Shown as <c>$0</c>, so the shell's own error messages (an agent that cannot be executed) start with it.</summary>
    public const string Name = "workers-agent-supervisor";

    /// <summary>The death signal, as setpriv(1) and the shell's trap name it.</summary>
    public const string DeathSignal = "USR2";

    // Traps, in order of appearance:
    // - The death signal may be stray (anyone may send SIGUSR2 to the group): kill only if our parent is no longer the worker.
    // - The PPID check closes the race where the worker died before setpriv set the death signal.
    // - A non-interactive shell starts a background job with SIGINT and SIGQUIT ignored, which an agent would inherit; the
    //   job resets them through env(1) --default-signal, but only those the supervisor itself did not inherit as ignored.
    // - It also gives a background job /dev/null as stdin, and dash 0.5 applies that even over an explicit `<&0`; dup'ing
    //   stdin to fd 3 first and redirecting from it works.
    // - After starting the agent the supervisor lets go of the pipes, so the agent alone decides when they reach end of file.
    // - `wait` returns early (status > 128) when a trapped signal arrives; wait again while the agent is still there.
    // - SIGTERM and SIGINT sent to the supervisor alone are passed on to the agent (the CLI runtimes interrupt a CLI with
    //   SIGINT first): untrapped, SIGINT would end the supervisor and leave the agent unsupervised. A signal the supervisor
    //   inherited as ignored cannot be trapped; the agent then inherits it ignored too, so forwarding would change nothing.
    private const string Script =
        """
        worker=$1; reset_with=$2; shift 2
        orphaned() {
          stat=; read -r stat < /proc/$$/stat
          set -- ${stat##*) }
          [ "$2" = "$worker" ] || kill -KILL 0
        }
        trapped=
        trap 'trapped=1; orphaned' USR2
        trap 'trapped=1; [ -z "$agent" ] || kill -TERM "$agent" 2>/dev/null' TERM
        trap 'trapped=1; [ -z "$agent" ] || kill -INT "$agent" 2>/dev/null' INT
        [ "$PPID" = "$worker" ] || kill -KILL 0
        [ -z "$trapped" ] || exit 143
        if [ -n "$reset_with" ]; then
          ignored=0; while read -r key value; do [ "$key" != SigIgn: ] || ignored=$value; done < /proc/$$/status
          ignored=$(( 0x${ignored#"${ignored%?}"} ))
          reset=
          [ $(( ignored & 2 )) -ne 0 ] || reset=INT
          [ $(( ignored & 4 )) -ne 0 ] || reset=${reset:+$reset,}QUIT
          [ -z "$reset" ] || set -- "$reset_with" --default-signal="$reset" -- "$@"
        fi
        exec 3<&0
        "$@" <&3 3<&- &
        agent=$!
        exec 3<&- </dev/null >/dev/null 2>&1
        while :; do
          trapped=; wait "$agent"; status=$?
          [ -n "$trapped" ] && [ "$status" -gt 128 ] && kill -0 "$agent" 2>/dev/null || break
        done
        exit "$status"
        """;

    /// <summary>
    /// env(1) when it has <c>--default-signal</c> (GNU coreutils 8.31 and later); null otherwise, and then an agent starts
    /// with SIGINT and SIGQUIT ignored. Probed once, on first use.
    /// </summary>
    private static readonly Lazy<string?> SignalResetter = new(ProbeSignalResetter);

    private const string Shell = "/bin/sh";

    /// <summary>setsid(1), util-linux (essential on Debian). Null where missing (or not Linux).</summary>
    public static string? Setsid { get; } = Find("setsid");

    /// <summary>setpriv(1), util-linux. Null where missing (or not Linux).</summary>
    public static string? Setpriv { get; } = Find("setpriv");

    /// <summary>True when agents get their own process group (setsid exists).</summary>
    public static bool GroupsAvailable => Setsid is not null;

    /// <summary>True when agents are killed with the worker: setsid, setpriv and /bin/sh all exist.</summary>
    public static bool Available { get; } = Setsid is not null && Setpriv is not null && File.Exists(Shell);

    /// <summary>
    /// Puts the launch chain in front of <paramref name="executable"/>: the full chain when <see cref="Available"/>, else
    /// setsid alone when it exists, else nothing. The caller adds the agent's own arguments after this.
    /// </summary>
    public static ProcessStartInfo CreateStartInfo(string executable)
    {
        if (Available)
        {
            var startInfo = new ProcessStartInfo(Setsid!);
            foreach (var argument in (ReadOnlySpan<string>)[Setpriv!, "--pdeathsig", DeathSignal, "--", Shell, "-c", Script, Name])
            {
                startInfo.ArgumentList.Add(argument);
            }

            startInfo.ArgumentList.Add(Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
            startInfo.ArgumentList.Add(SignalResetter.Value ?? "");
            startInfo.ArgumentList.Add(executable);
            return startInfo;
        }

        if (Setsid is not null)
        {
            var startInfo = new ProcessStartInfo(Setsid);
            startInfo.ArgumentList.Add(executable);
            return startInfo;
        }

        return new ProcessStartInfo(executable);
    }

    /// <summary>
    /// The reason <paramref name="executable"/> could not be executed, when the exit code and stderr say the launch chain
    /// failed to execute it (e.g. a script whose #! names a missing interpreter); null otherwise.
    /// </summary>
    public static string? ExecFailure(int exitCode, string stderr, string executable)
    {
        if (exitCode is not (126 or 127))
        {
            return null;
        }

        // setsid(1): "setsid: failed to execute /path: No such file or directory".
        const string SetsidFailure = "setsid: failed to execute ";
        if (stderr.StartsWith(SetsidFailure, StringComparison.Ordinal))
        {
            return FirstLine(stderr[SetsidFailure.Length..]);
        }

        // dash: "workers-agent-supervisor: 13: /path: not found" (the number is the script's line).
        const string ShellFailure = Name + ": ";
        if (stderr.StartsWith(ShellFailure, StringComparison.Ordinal))
        {
            var rest = stderr[ShellFailure.Length..];
            var afterLine = rest.IndexOf(": ", StringComparison.Ordinal);
            return FirstLine(afterLine < 0 ? rest : rest[(afterLine + 2)..]);
        }

        // env(1): "/usr/bin/env: '/path': No such file or directory", quotes per locale. An agent whose #! line runs env
        // and names a missing program writes the same prefix, but quotes that program, not the agent's own path.
        if (SignalResetter is { IsValueCreated: true, Value: { } env } && stderr.StartsWith(env + ": ", StringComparison.Ordinal))
        {
            var rest = stderr[(env.Length + 2)..];
            if (rest.Length > executable.Length + 3
                && rest.AsSpan(1).StartsWith(executable, StringComparison.Ordinal)
                && rest.AsSpan(executable.Length + 2).StartsWith(": ", StringComparison.Ordinal))
            {
                return FirstLine(rest);
            }
        }

        return null;
    }

    private static string FirstLine(string text) => text.Split('\n')[0];

    private static string? ProbeSignalResetter()
    {
        if (Find("env") is not { } env)
        {
            return null;
        }

        try
        {
            var startInfo = new ProcessStartInfo(env) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var argument in (ReadOnlySpan<string>)["--default-signal=INT", "--", "true"])
            {
                startInfo.ArgumentList.Add(argument);
            }

            using var probe = Process.Start(startInfo);
            if (probe is null)
            {
                return null;
            }

            probe.StandardOutput.ReadToEnd();
            probe.StandardError.ReadToEnd();
            return probe.WaitForExit(TimeSpan.FromSeconds(5)) && probe.ExitCode == 0 ? env : null;
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            return null;
        }
    }

    private static string? Find(string name) =>
        OperatingSystem.IsLinux() ? Array.Find([$"/usr/bin/{name}", $"/bin/{name}"], File.Exists) : null;
}
