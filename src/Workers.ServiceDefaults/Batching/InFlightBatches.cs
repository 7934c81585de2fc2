using System.Diagnostics;

namespace Workers.ServiceDefaults.Batching;

/// <summary>
/// Sends items with a bounded number of sends in flight: an item added while fewer are in flight leaves at once; the
/// items added while all are in flight wait for one to finish and then leave together. An idle caller so pays no delay,
/// and a busy one sends one batch (a message, a transaction) for everything that came up meanwhile: the batch grows with
/// the load by itself.
/// </summary>
/// <remarks>
/// Items that are not urgent (<c>isUrgent</c>) may wait up to <c>patience</c> for an urgent one to leave with, so a send
/// that only they would make can be saved: a worker's results wait a few milliseconds for a claim to ride in. An urgent
/// item never waits for that, and its arrival ends the wait of the others.
/// </remarks>
/// <param name="maxInFlight">Sends at once. One batches the most; two lets a new item leave while the previous send waits.</param>
/// <param name="take">How many of the waiting items (oldest first) the next send carries; at least one is taken.</param>
/// <param name="sendAsync">Sends one batch; it must not throw (it answers each item itself).</param>
/// <param name="isUrgent">Which items never wait for company; null: all of them (nothing waits).</param>
/// <param name="patience">How long, from its arrival, the oldest waiting item waits for an urgent one when none is waiting.</param>
public sealed class InFlightBatches<T>(int maxInFlight, Func<IReadOnlyList<T>, int> take, Func<List<T>, Task> sendAsync,
    Predicate<T>? isUrgent = null, TimeSpan patience = default)
{
    readonly Lock _gate = new();
    readonly List<T> _waiting = [];
    // Arrival times of the waiting items, kept only when some may wait (a patience): the oldest one's time bounds the wait.
    readonly List<long> _addedAt = [];
    readonly bool _lingers = patience > TimeSpan.Zero && isUrgent is not null;
    int _sending;
    TaskCompletionSource? _urgentArrived;

    public void Add(T item)
    {
        TaskCompletionSource? wake = null;
        var start = false;
        lock (_gate)
        {
            _waiting.Add(item);
            if (_lingers)
            {
                _addedAt.Add(Stopwatch.GetTimestamp());
                if (isUrgent!(item))
                    (wake, _urgentArrived) = (_urgentArrived, null);
            }
            if (_sending < maxInFlight)
            {
                _sending++;
                start = true;
            }
        }
        wake?.TrySetResult();
        if (start)
            _ = SendWhileWaitingAsync();
    }

    async Task SendWhileWaitingAsync()
    {
        while (true)
        {
            List<T>? batch = null;
            Task? company = null;
            lock (_gate)
            {
                if (_waiting.Count == 0)
                {
                    _sending--;
                    return;
                }
                var left = _lingers && !_waiting.Exists(isUrgent!) ? patience - Stopwatch.GetElapsedTime(_addedAt[0]) : TimeSpan.Zero;
                if (left > TimeSpan.Zero)
                {
                    _urgentArrived ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    company = _urgentArrived.Task.WaitAsync(left);
                }
                else
                {
                    var count = Math.Clamp(take(_waiting), 1, _waiting.Count);
                    batch = _waiting.GetRange(0, count);
                    _waiting.RemoveRange(0, count);
                    if (_lingers)
                        _addedAt.RemoveRange(0, count);
                }
            }
            if (company is not null)
            {
                // Woken by an urgent item, or the patience ran out (a timeout, not an error): look again either way.
                await company.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }
            await sendAsync(batch!).ConfigureAwait(false);
        }
    }
}
