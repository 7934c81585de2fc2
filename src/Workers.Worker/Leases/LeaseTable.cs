using System.Collections.Concurrent;

namespace Workers.Worker.Leases;

/// <summary>The leases this worker holds right now.</summary>
public sealed class LeaseTable
{
    readonly ConcurrentDictionary<Guid, ActiveRun> _runs = new();

    public int Count => _runs.Count;

    public IReadOnlyCollection<ActiveRun> Snapshot() => _runs.Values.ToList();

    public void Add(ActiveRun run) => _runs[run.RunId] = run;

    public void Remove(ActiveRun run) => _runs.TryRemove(new KeyValuePair<Guid, ActiveRun>(run.RunId, run));

    public bool TryGet(Guid runId, out ActiveRun run) => _runs.TryGetValue(runId, out run!);
}
