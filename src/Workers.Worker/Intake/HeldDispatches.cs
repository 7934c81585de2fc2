using System.Collections.Concurrent;

namespace Workers.Worker.Intake;

/// <summary>
/// The dispatch each runtime queue's consumer holds while it waits for a free slot (prefetch 1: at most one per queue).
/// A prefetched message cannot be overtaken in RabbitMQ, so a restart queued behind it would wait for one more slot;
/// asked by <see cref="RestartQueuedConsumer"/>, the held dispatch steps aside instead (its consumer puts it back).
/// </summary>
public sealed class HeldDispatches
{
    readonly ConcurrentDictionary<string, Held> _held = new(StringComparer.Ordinal);

    /// <summary>Records the dispatch <paramref name="runtime"/>'s consumer now waits with, until the returned handle is disposed.</summary>
    public IDisposable Hold(string runtime, int priority, CancellationTokenSource stepAside)
    {
        var held = new Held(this, runtime, priority, stepAside);
        _held[runtime] = held;
        return held;
    }

    /// <summary>Makes the dispatch held for <paramref name="runtime"/> step aside if its priority is below <paramref name="priority"/>.</summary>
    public bool StepAsideFor(string runtime, int priority)
    {
        if (!_held.TryGetValue(runtime, out var held) || held.Priority >= priority)
            return false;
        try
        {
            held.StepAside.Cancel();
            return true;
        }
        catch (ObjectDisposedException)
        {
            // Its wait ended meanwhile (it took a slot, or was put back already).
            return false;
        }
    }

    sealed record Held(HeldDispatches Owner, string Runtime, int Priority, CancellationTokenSource StepAside) : IDisposable
    {
        public void Dispose() => Owner._held.TryRemove(new KeyValuePair<string, Held>(Runtime, this));
    }
}
