using System.Collections.Concurrent;

namespace Workers.Worker.Leases;

/// <summary>The leases this worker holds right now.</summary>
public sealed class LeaseTable
{
    readonly ConcurrentDictionary<Guid, ActiveRun> _runs = new();
    TaskCompletionSource _added = NewSignal();

    public int Count => _runs.Count;

    public IReadOnlyCollection<ActiveRun> Snapshot() => _runs.Values.ToList();

    public void Add(ActiveRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        _runs[run.RunId] = run;
        Interlocked.Exchange(ref _added, NewSignal()).TrySetResult();
    }

    /// <summary>Completes at the next <see cref="Add"/>: a new lease may lapse before any the table held (its claim took long).</summary>
    public Task NextAdd => Volatile.Read(ref _added).Task;

    static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Remove(ActiveRun run) => _runs.TryRemove(new KeyValuePair<Guid, ActiveRun>(run.RunId, run));

    public bool TryGet(Guid runId, out ActiveRun run) => _runs.TryGetValue(runId, out run!);
}
