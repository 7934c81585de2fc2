using System.Collections.Concurrent;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Runs.Dispatch;

/// <summary>
/// How far workers have got through each runtime's dispatch queue, as this orchestrator saw it grant leases: when it last
/// granted one, and, per dispatch priority, the newest queue time of a run that got one. The re-dispatch timer asks it
/// whether an unclaimed dispatch looks lost or is simply still waiting its turn behind a backlog; without it every run of
/// a long backlog would be dispatched again (and refused at claim time) each time its timer fired.
/// </summary>
/// <remarks>
/// A priority queue hands out higher priorities first and, within one, the oldest first. So a queued run is overtaken, its
/// dispatch most likely lost, once a run queued after it at its priority or a lower one has been granted a lease. A run
/// nothing has overtaken while leases keep being granted is behind others. Only a hint: a wrong "waiting" delays a lost
/// dispatch until the queue goes quiet or <see cref="RunOptions.RedispatchMaxDelay"/> passes, a wrong "lost" sends a
/// duplicate that the claim refuses.
/// </remarks>
public sealed class DispatchProgress(TimeProvider time)
{
    readonly ConcurrentDictionary<string, RuntimeQueue> _queues = new(StringComparer.Ordinal);

    /// <summary>Records a lease granted on a run dispatched at <paramref name="priority"/> and queued at <paramref name="queuedAt"/>.</summary>
    public void Granted(string runtime, int priority, DateTimeOffset queuedAt)
    {
        var queue = _queues.GetOrAdd(runtime, _ => new RuntimeQueue());
        Volatile.Write(ref queue.LastGrantTicks, time.GetUtcNow().UtcTicks);
        ref var newest = ref queue.NewestGranted[Math.Clamp(priority, 0, RunQueues.MaxPriority)];
        var ticks = queuedAt.UtcTicks;
        long seen;
        while ((seen = Volatile.Read(ref newest)) < ticks && Interlocked.CompareExchange(ref newest, ticks, seen) != seen)
        {
        }
    }

    /// <summary>
    /// True when a run queued at <paramref name="queuedAt"/> and not yet claimed should be dispatched again: something
    /// dispatched after it at its priority or a lower one was granted a lease, or no lease was granted on its runtime for
    /// <paramref name="quietFor"/> (nobody is working through the queue, or this orchestrator has just started).
    /// </summary>
    public bool LooksLost(string runtime, int priority, DateTimeOffset queuedAt, TimeSpan quietFor)
    {
        if (!_queues.TryGetValue(runtime, out var queue))
            return true;
        var ticks = queuedAt.UtcTicks;
        for (var p = Math.Clamp(priority, 0, RunQueues.MaxPriority); p >= 0; p--)
        {
            if (Volatile.Read(ref queue.NewestGranted[p]) > ticks)
                return true;
        }
        return time.GetUtcNow().UtcTicks - Volatile.Read(ref queue.LastGrantTicks) >= quietFor.Ticks;
    }

    sealed class RuntimeQueue
    {
        public long LastGrantTicks;
        public readonly long[] NewestGranted = new long[RunQueues.MaxPriority + 1];
    }
}
