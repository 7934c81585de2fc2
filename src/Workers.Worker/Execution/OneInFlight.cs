namespace Workers.Worker.Execution;

/// <summary>
/// Sends items with at most one send in flight: an item added while none is in flight leaves at once, alone; the items
/// added while one is in flight wait for it and then leave together. An idle worker so pays no delay, and a busy one
/// sends one message for everything that came up meanwhile: the batch grows with the load by itself.
/// </summary>
/// <param name="take">How many of the waiting items (oldest first) the next send carries; at least one is taken.</param>
/// <param name="sendAsync">Sends one batch; it must not throw (it answers each item itself).</param>
public sealed class OneInFlight<T>(Func<IReadOnlyList<T>, int> take, Func<List<T>, Task> sendAsync)
{
    readonly Lock _gate = new();
    readonly List<T> _waiting = [];
    bool _sending;

    public void Add(T item)
    {
        lock (_gate)
        {
            _waiting.Add(item);
            if (_sending)
                return;
            _sending = true;
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
                    _sending = false;
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
