namespace Workers.ServiceDefaults.Batching;

/// <summary>
/// Sends items with a bounded number of sends in flight: an item added while fewer are in flight leaves at once; the
/// items added while all are in flight wait for one to finish and then leave together. An idle caller so pays no delay,
/// and a busy one sends one batch (a message, a transaction) for everything that came up meanwhile: the batch grows with
/// the load by itself.
/// </summary>
/// <param name="maxInFlight">Sends at once. One batches the most; two lets a new item leave while the previous send waits.</param>
/// <param name="take">How many of the waiting items (oldest first) the next send carries; at least one is taken.</param>
/// <param name="sendAsync">Sends one batch; it must not throw (it answers each item itself).</param>
public sealed class InFlightBatches<T>(int maxInFlight, Func<IReadOnlyList<T>, int> take, Func<List<T>, Task> sendAsync)
{
    readonly Lock _gate = new();
    readonly List<T> _waiting = [];
    int _sending;

    public void Add(T item)
    {
        lock (_gate)
        {
            _waiting.Add(item);
            if (_sending >= maxInFlight)
                return;
            _sending++;
        }
        _ = SendWhileWaitingAsync();
    }

    async Task SendWhileWaitingAsync()
    {
        while (true)
        {
            List<T> batch;
            lock (_gate)
            {
                if (_waiting.Count == 0)
                {
                    _sending--;
                    return;
                }
                var count = Math.Clamp(take(_waiting), 1, _waiting.Count);
                batch = _waiting.GetRange(0, count);
                _waiting.RemoveRange(0, count);
            }
            await sendAsync(batch).ConfigureAwait(false);
        }
    }
}
