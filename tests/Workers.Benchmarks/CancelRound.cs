using System.Collections.Concurrent;
using System.Globalization;
using System.Net;

using MassTransit;

namespace Workers.Benchmarks;

/// <summary>
/// W4, cancellation latency: 100 runs of the <c>hold</c> agent (<c>sleep 60</c>) running on two workers × 60 slots, each
/// cancelled through <c>POST /api/runs/{id}/cancel</c>, a few requests at a time.
/// </summary>
public static class CancelRound
{
    public const int Runs = 100;
    public const int WorkerCount = 2;
    public const int Slots = 60;
    public const int AtOnce = 5;
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(20);

    public static async Task<Dictionary<Figure, double>> RunAsync(BenchmarkOptions options, HostBuild hosts, int round, TextWriter progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        progress.WriteLine($"cancel round {round}: starting the fleet (orchestrator + {WorkerCount} workers × {Slots} slots)");
        await using var fleet = await BenchFleet.StartAsync(hosts, WorkerCount, Slots, cancellationToken);
        fleet.KeepDirectory = options.KeepLogs;
        try
        {
            await using var database = await RunDatabase.OpenAsync(fleet.Database, cancellationToken);
            var bus = await Fault.StartBusAndWarmUpAsync(fleet, database, cancellationToken);
            try
            {
                var ids = Enumerable.Range(0, Runs).Select(_ => NewId.NextGuid()).ToArray();
                await Fault.SubmitAsync(bus, ids, BenchFleet.HoldAgent, cancellationToken);
                Dictionary<Guid, int> pids = [];
                await Fault.WaitAsync(async () =>
                {
                    pids = ReadPids(fleet.HoldLog);
                    return pids.Count >= Runs && await database.CountInStateAsync(ids, "Running", cancellationToken) == Runs;
                }, fleet, null, TimeSpan.FromSeconds(60), "all 100 runs Running", cancellationToken);
                progress.WriteLine($"cancel round {round}: {Runs} runs Running; cancelling {AtOnce} at a time");

                var requested = new ConcurrentDictionary<Guid, DateTimeOffset>();
                var answered = new ConcurrentDictionary<Guid, DateTimeOffset>();
                var statuses = new ConcurrentDictionary<Guid, HttpStatusCode>();
                using var stopPolling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var polling = PollAsync(ids, pids, requested, database, fleet, stopPolling.Token);
                foreach (var chunk in ids.Chunk(AtOnce))
                {
                    await Task.WhenAll(chunk.Select(async id =>
                    {
                        requested[id] = DateTimeOffset.UtcNow;
                        statuses[id] = await fleet.CancelAsync(id, cancellationToken);
                        answered[id] = DateTimeOffset.UtcNow;
                    }));
                }
                var (seenCancelled, seenGone) = await polling;

                var rows = await database.RowsAsync(ids, cancellationToken);
                var figures = Figures(rows, requested, answered, seenCancelled, seenGone, statuses);
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"cancel round {round}: cancel → Cancelled p50 {figures[CancelFigures.CancelledP50]:0.0} ms, p99 {figures[CancelFigures.CancelledP99]:0.0} ms; " +
                    $"→ agent gone p50 {figures[CancelFigures.GoneP50]:0.0} ms, p99 {figures[CancelFigures.GoneP99]:0.0} ms; not Cancelled {figures[CancelFigures.NotCancelled]}"));
                return figures;
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            fleet.KeepDirectory = true;
            progress.WriteLine($"cancel round {round} failed; process logs kept in {fleet.Directory}");
            throw;
        }
    }

    /// <summary>Every ~20 ms: which cancelled runs the saga table shows Cancelled, and which agents are gone; until all are both (or 60 s).</summary>
    static async Task<(Dictionary<Guid, DateTimeOffset> Cancelled, Dictionary<Guid, DateTimeOffset> Gone)> PollAsync(Guid[] ids, Dictionary<Guid, int> pids,
        ConcurrentDictionary<Guid, DateTimeOffset> requested, RunDatabase database, BenchFleet fleet, CancellationToken cancellationToken)
    {
        var cancelled = new Dictionary<Guid, DateTimeOffset>();
        var gone = new Dictionary<Guid, DateTimeOffset>();
        var deadline = DateTimeOffset.UtcNow.AddSeconds(90);
        while (cancelled.Count < ids.Length || gone.Count < ids.Length)
        {
            var pending = ids.Where(id => requested.ContainsKey(id) && !cancelled.ContainsKey(id)).ToArray();
            if (pending.Length > 0)
            {
                var now = await database.InStateAsync(pending, "Cancelled", cancellationToken);
                var at = DateTimeOffset.UtcNow;
                foreach (var id in now)
                    cancelled[id] = at;
            }
            var checkedAt = DateTimeOffset.UtcNow;
            foreach (var id in ids)
            {
                if (requested.ContainsKey(id) && !gone.ContainsKey(id) && (!pids.TryGetValue(id, out var pid) || Fault.IsGone(pid)))
                    gone[id] = checkedAt;
            }
            fleet.ThrowIfAnyExited();
            if (DateTimeOffset.UtcNow > deadline)
                break;
            await Task.Delay(Poll, cancellationToken);
        }
        return (cancelled, gone);
    }

    static Dictionary<Guid, int> ReadPids(string path)
    {
        var pids = new Dictionary<Guid, int>();
        if (!File.Exists(path))
            return pids;
        foreach (var line in File.ReadAllLines(path))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 2 && Guid.TryParse(parts[0], out var id) && int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid))
                pids[id] = pid;
        }
        return pids;
    }

    static Dictionary<Figure, double> Figures(List<RunRow> rows, ConcurrentDictionary<Guid, DateTimeOffset> requested,
        ConcurrentDictionary<Guid, DateTimeOffset> answered, Dictionary<Guid, DateTimeOffset> seenCancelled, Dictionary<Guid, DateTimeOffset> seenGone,
        ConcurrentDictionary<Guid, HttpStatusCode> statuses)
    {
        static double Ms(DateTimeOffset from, DateTimeOffset to) => (to - from).TotalMilliseconds;
        var finished = Fault.Sorted(rows.Where(r => r.State == "Cancelled" && r.FinishedAt is not null)
            .Select(r => Ms(requested[r.RunId], r.FinishedAt!.Value)));
        var seen = Fault.Sorted(seenCancelled.Select(p => Ms(requested[p.Key], p.Value)));
        var gone = Fault.Sorted(seenGone.Select(p => Ms(requested[p.Key], p.Value)));
        var http = Fault.Sorted(answered.Select(p => Ms(requested[p.Key], p.Value)));
        return new Dictionary<Figure, double>
        {
            [CancelFigures.CancelledP50] = Stats.Percentile(finished, 0.50),
            [CancelFigures.CancelledP99] = Stats.Percentile(finished, 0.99),
            [CancelFigures.SeenP50] = Stats.Percentile(seen, 0.50),
            [CancelFigures.SeenP99] = Stats.Percentile(seen, 0.99),
            [CancelFigures.GoneP50] = Stats.Percentile(gone, 0.50),
            [CancelFigures.GoneP99] = Stats.Percentile(gone, 0.99),
            [CancelFigures.HttpP50] = Stats.Percentile(http, 0.50),
            [CancelFigures.HttpP99] = Stats.Percentile(http, 0.99),
            [CancelFigures.NotCancelled] = rows.Count(r => r.State != "Cancelled") + (Runs - rows.Count),
            [CancelFigures.AgentsLeft] = Runs - seenGone.Count,
            [CancelFigures.Not202] = statuses.Values.Count(s => s != HttpStatusCode.Accepted),
        };
    }
}

/// <summary>The cancel workload's figures, in report order.</summary>
public static class CancelFigures
{
    public static readonly Figure CancelledP50 = new("cancel_cancelled_p50_ms", "**cancel request → `Cancelled` p50, ms**", 1,
        "From just before `POST /api/runs/{id}/cancel` is sent to the run's `finished_at` in the saga table (written with the `Cancelled` state, " +
        "after the worker has stopped the agent and reported `RunCancelled`). Same machine, same clock.");
    public static readonly Figure CancelledP99 = new("cancel_cancelled_p99_ms", "**cancel request → `Cancelled` p99, ms**", 1, "As above, 99th percentile.");
    public static readonly Figure SeenP50 = new("cancel_seen_p50_ms", "cancel request → `Cancelled` seen by a 20 ms poll p50, ms", 1,
        "The same end point as observed by polling the saga table every ~20 ms (so up to one poll interval, plus the query, late).");
    public static readonly Figure SeenP99 = new("cancel_seen_p99_ms", "cancel request → `Cancelled` seen by a 20 ms poll p99, ms", 1, "As above, 99th percentile.");
    public static readonly Figure GoneP50 = new("cancel_gone_p50_ms", "cancel request → agent process gone p50, ms", 1,
        "Until the agent's own pid (the `sleep` the `hold` script execs) has no /proc entry or is a zombie, checked in the same ~20 ms loop. " +
        "The process runtime sends SIGTERM to the agent's process group, which ends `sleep` at once.");
    public static readonly Figure GoneP99 = new("cancel_gone_p99_ms", "cancel request → agent process gone p99, ms", 1, "As above, 99th percentile.");
    public static readonly Figure HttpP50 = new("cancel_http_p50_ms", "cancel request → HTTP answer p50, ms", 1, "The API's `202` (the cancel is then requested, not done).");
    public static readonly Figure HttpP99 = new("cancel_http_p99_ms", "cancel request → HTTP answer p99, ms", 1, "As above, 99th percentile.");
    public static readonly Figure NotCancelled = new("cancel_not_cancelled", "runs not Cancelled at the end", 0, "Should be 0.");
    public static readonly Figure AgentsLeft = new("cancel_agents_left", "agent processes still alive 90 s after the first cancel", 0, "Should be 0.");
    public static readonly Figure Not202 = new("cancel_not_202", "cancel requests not answered 202", 0, "Should be 0.");

    public static readonly IReadOnlyList<Figure> All =
        [CancelledP50, CancelledP99, SeenP50, SeenP99, GoneP50, GoneP99, HttpP50, HttpP99, NotCancelled, AgentsLeft, Not202, Figures.LoadBefore];
}
