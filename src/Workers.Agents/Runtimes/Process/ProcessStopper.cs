using System.ComponentModel;
using System.Diagnostics;

namespace Workers.Agents.Runtimes;

/// <summary>
/// How every runtime stops an agent process and everything it started: an optional interrupt to the root of the tree
/// (a CLI's own graceful stop), then SIGTERM to the process group and tree, then SIGKILL to whatever is left, each
/// step waiting at most its grace period. Also the small process helpers the runtimes share.
/// </summary>
internal static class ProcessStopper
{
    public const int SigInt = 2;

    static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);
    static readonly TimeSpan KilledExitTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Waits for the agent to exit. If it left processes running in its group, they are stopped (the agent is done, so
    /// no interrupt step); if <paramref name="cancellationToken"/> fires first, the agent is stopped with both graces.
    /// <paramref name="abort"/> cuts every grace short: whatever is still running is killed at once.
    /// Returns true when it was stopped because of the cancellation.
    /// </summary>
    public static async Task<bool> WaitOrStopAsync(AgentProcess process, TimeSpan interruptGrace, TimeSpan terminationGrace, TimeProvider time,
        Action<int> stoppingLeftovers, Action cancelling, CancellationToken cancellationToken, CancellationToken abort = default)
    {
        ArgumentNullException.ThrowIfNull(process);
        ArgumentNullException.ThrowIfNull(stoppingLeftovers);
        ArgumentNullException.ThrowIfNull(cancelling);
        var group = process.GroupId;
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            if (group is { } leftovers && ProcessTree.GroupExists(leftovers) && ProcessTree.AnyRunning(leftovers, []))
            {
                stoppingLeftovers(leftovers);
                await StopAsync(process, TimeSpan.Zero, terminationGrace, time, abort).ConfigureAwait(false);
            }
            return false;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Off the thread that cancelled (a stop request's handler, which may be stopping other runs too): stops run side by side.
            await Task.Yield();
            cancelling();
            await StopAsync(process, interruptGrace, terminationGrace, time, abort).ConfigureAwait(false);
            return true;
        }
    }

    /// <summary>Stops <paramref name="process"/>; a zero grace skips that step, and <paramref name="abort"/> ends any grace at once.</summary>
    public static async Task StopAsync(AgentProcess process, TimeSpan interruptGrace, TimeSpan terminationGrace, TimeProvider time,
        CancellationToken abort = default)
    {
        var group = process.GroupId;
        List<ProcessTree.Member> tree = [];
        if (OperatingSystem.IsLinux())
        {
            tree = ProcessTree.Snapshot(process.Id);
            if (interruptGrace > TimeSpan.Zero && tree.Count > 0 && !abort.IsCancellationRequested)
            {
                // The root is the agent itself (spawned, or setsid exec'd it in place): the interrupt goes to it alone, as a terminal would send it.
                ProcessTree.Signal([tree[0]], SigInt);
                await WaitWhileRunningAsync(group, tree, interruptGrace, time, abort).ConfigureAwait(false);
            }

            if (terminationGrace > TimeSpan.Zero && !abort.IsCancellationRequested && ProcessTree.AnyRunning(group, tree))
            {
                if (group is { } terminated)
                {
                    ProcessTree.SignalGroup(terminated, ProcessTree.SigTerm);
                }

                ProcessTree.Signal(tree, ProcessTree.SigTerm);
                await WaitWhileRunningAsync(group, tree, terminationGrace, time, abort).ConfigureAwait(false);
            }

            if (group is { } killed)
            {
                ProcessTree.SignalGroup(killed, ProcessTree.SigKill);
            }
        }

        process.KillTree();

        // Descendants that left the group and whose parent already exited are out of Kill(entireProcessTree)'s reach.
        ProcessTree.Signal(tree, ProcessTree.SigKill);
        try
        {
            // Killed already: waiting for the exit is not a grace, so the abort does not cut it short.
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(KilledExitTimeout, time, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Nothing more can be done about a process that survives SIGKILL (e.g. stuck in uninterruptible I/O).
        }
    }

    public static void KillTree(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or Win32Exception or NotSupportedException)
        {
            // It exited between the check and the kill.
        }
    }

    public static int SafeId(Process process)
    {
        try
        {
            return process.Id;
        }
        catch (InvalidOperationException)
        {
            return -1;
        }
    }

    /// <summary>Reads a pipe line by line to its end; a pipe closed under the reader ends it quietly.</summary>
    public static async Task PumpAsync(StreamReader reader, int maxLineLength, Action<string> onLine)
    {
        try
        {
            await LineReader.ReadLinesAsync(reader, maxLineLength, onLine, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The pipe was closed under us (the process object was disposed after the drain timeout).
        }
    }

    static async Task WaitWhileRunningAsync(int? group, List<ProcessTree.Member> tree, TimeSpan grace, TimeProvider time, CancellationToken abort)
    {
        var signalled = time.GetTimestamp();
        while (!abort.IsCancellationRequested && ProcessTree.AnyRunning(group, tree) && time.GetElapsedTime(signalled) < grace)
        {
            try
            {
                await Task.Delay(PollInterval, time, abort).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (abort.IsCancellationRequested)
            {
                // The lease lapsed during the grace: the caller kills what is left now.
            }
        }
    }
}
