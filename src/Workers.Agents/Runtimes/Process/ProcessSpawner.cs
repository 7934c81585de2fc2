using System.Collections.Concurrent;
using System.Diagnostics;

namespace Workers.Agents.Runtimes;

/// <summary>
/// Starts child processes from one dedicated thread that lives as long as the worker process. On Linux the death signal
/// of PR_SET_PDEATHSIG (see <see cref="AgentSupervisor"/>) fires when the <em>thread</em> that forked the child exits, and
/// <see cref="Process.Start()"/> forks on the calling thread: a thread-pool thread that later retires would take its
/// agents with it. One thread, a queue, no polling: a start costs one fork, as before.
/// </summary>
internal static class ProcessSpawner
{
    private static readonly BlockingCollection<(Process Process, TaskCompletionSource Started)> Requests = [];

    private static readonly Lazy<Thread> Spawner = new(() =>
    {
        // Background: it must not keep the worker alive at shutdown; it never returns otherwise.
        var thread = new Thread(Run) { IsBackground = true, Name = "Workers agent spawner" };
        thread.Start();
        return thread;
    });

    /// <summary>Starts <paramref name="process"/> on the spawner thread; faults with what <see cref="Process.Start()"/> threw.</summary>
    public static Task StartAsync(Process process)
    {
        ArgumentNullException.ThrowIfNull(process);
        _ = Spawner.Value;

        // Continuations must not run on the spawner thread: it would stop starting other agents.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Requests.Add((process, started));
        return started.Task;
    }

    private static void Run()
    {
        foreach (var (process, started) in Requests.GetConsumingEnumerable())
        {
            try
            {
                process.Start();
                started.SetResult();
            }
            catch (Exception ex)
            {
                started.SetException(ex);
            }
        }
    }
}
