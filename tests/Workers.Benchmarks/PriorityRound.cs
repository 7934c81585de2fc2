using System.Globalization;

using MassTransit;

using Workers.Contracts;

namespace Workers.Benchmarks;

/// <summary>
/// W2, priority under backlog, as the BullMQ peer's <c>w2-priority.js</c>: one worker × 4 slots, already running; 2,000 runs of
/// the 20 ms <c>short</c> agent at priority 0, then 100 at priority 9. Where do the high ones land among all completions?
/// </summary>
public static class PriorityRound
{
    public const int Low = 2_000;
    public const int High = 100;
    public const int Slots = 4;
    public const int LowPriority = 0;
    public const int HighPriority = 9;

    public static async Task<Dictionary<Figure, double>> RunAsync(BenchmarkOptions options, HostBuild hosts, int round, TextWriter progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        return await Fault.InFleetAsync(options, hosts, "priority", round, 1, Slots, progress, async (fleet, database, bus) =>
        {
            var lows = Enumerable.Range(0, Low).Select(_ => NewId.NextGuid()).ToArray();
            var highs = Enumerable.Range(0, High).Select(_ => NewId.NextGuid()).ToArray();
            await SubmitAsync(bus, lows, LowPriority, cancellationToken);
            // The same clock as the saga's timestamps (this machine's wall clock).
            var highSubmittedAt = DateTimeOffset.UtcNow;
            await SubmitAsync(bus, highs, HighPriority, cancellationToken);
            progress.WriteLine($"priority round {round}: {Low:N0} low then {High} high submitted; waiting for all to finish");

            var all = lows.Concat(highs).ToArray();
            await Fault.WaitAsync(async () => await database.TerminalCountAsync(all, cancellationToken) == all.Length, fleet, null,
                TimeSpan.FromSeconds(options.RoundTimeoutSeconds), $"all {all.Length:N0} runs terminal", cancellationToken);

            var rows = await database.RowsAsync(all, cancellationToken);
            var figures = Figures(rows, highs.ToHashSet(), highSubmittedAt);
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"priority round {round}: high ranks median {figures[PriorityFigures.RankMedian]:0}, max {figures[PriorityFigures.RankMax]:0}; " +
                $"{figures[PriorityFigures.DoneBefore]:0} done before the highs, {figures[PriorityFigures.Overtaking]:0} lows overtaking"));
            return figures;
        }, cancellationToken);
    }

    /// <summary>Publishes in order, 16 awaiting their confirm at once (so the lows are all in before the first high).</summary>
    static async Task SubmitAsync(IBus bus, Guid[] ids, int priority, CancellationToken cancellationToken)
    {
        foreach (var chunk in ids.Chunk(16))
        {
            await Task.WhenAll(chunk.Select(id =>
                SubmitLoad.PublishAsync(bus, new SubmitRun { RunId = id, Agent = BenchFleet.ShortAgent, Input = "bench", Priority = priority }, cancellationToken)));
        }
    }

    static Dictionary<Figure, double> Figures(List<RunRow> rows, HashSet<Guid> highs, DateTimeOffset highSubmittedAt)
    {
        // Completion order = finished_at order (written by the saga when it handles RunSucceeded).
        var order = rows.Where(r => r.FinishedAt is not null).OrderBy(r => r.FinishedAt).ToList();
        var ranks = order.Select((r, i) => (r, Rank: i + 1)).Where(x => highs.Contains(x.r.RunId)).Select(x => (double)x.Rank).ToList();
        ranks.Sort();
        var doneBefore = order.Count(r => r.FinishedAt < highSubmittedAt);
        var lastHigh = order.LastOrDefault(r => highs.Contains(r.RunId))?.FinishedAt;
        var overtaking = order.Count(r => !highs.Contains(r.RunId) && r.FinishedAt >= highSubmittedAt && r.FinishedAt <= lastHigh);
        var first = rows.Min(r => r.SubmittedAt);
        var last = order.Count > 0 ? order[^1].FinishedAt!.Value : first;
        return new Dictionary<Figure, double>
        {
            [PriorityFigures.RankMedian] = Stats.Percentile(ranks, 0.50),
            [PriorityFigures.RankMax] = ranks.Count > 0 ? ranks[^1] : double.NaN,
            [PriorityFigures.RankMin] = ranks.Count > 0 ? ranks[0] : double.NaN,
            [PriorityFigures.DoneBefore] = doneBefore,
            [PriorityFigures.Overtaking] = overtaking,
            [PriorityFigures.Duration] = (last - first).TotalSeconds,
            [PriorityFigures.NotSucceeded] = rows.Count(r => r.State != "Succeeded") + (Low + High - rows.Count),
        };
    }
}

/// <summary>The priority workload's figures, in report order.</summary>
public static class PriorityFigures
{
    public static readonly Figure RankMedian = new("w2_high_rank_median", "**completion rank of the median high run**", 0,
        $"Position of the median priority-{PriorityRound.HighPriority} run among all {PriorityRound.Low + PriorityRound.High:N0} completions, ordered by the saga's `finished_at`. " +
        "Ideal: done-before + slots + 50.");
    public static readonly Figure RankMax = new("w2_high_rank_max", "**completion rank of the last high run**", 0,
        $"Ideal: done-before + slots + {PriorityRound.High}.");
    public static readonly Figure RankMin = new("w2_high_rank_min", "completion rank of the first high run", 0, "The first of them.");
    public static readonly Figure DoneBefore = new("w2_done_before_high", "runs finished before the first high was submitted", 0,
        "`finished_at` earlier than the moment the benchmark began publishing the high batch (all lows had been confirmed by the broker then).");
    public static readonly Figure Overtaking = new("w2_lows_overtaking", "**lows finished after the first high was submitted and before the last high finished**", 0,
        "As the peer's `lows_overtaking`: runs already in flight or prefetched when the highs arrived. The ideal is about the slot count (4).");
    public static readonly Figure Duration = new("w2_duration_s", "first submission accepted → last finish, s", 1,
        "From the earliest `submitted_at` to the latest `finished_at`.");
    public static readonly Figure NotSucceeded = new("w2_not_succeeded", "runs not Succeeded", 0, "Should be 0.");

    public static readonly IReadOnlyList<Figure> All = [RankMedian, RankMax, RankMin, DoneBefore, Overtaking, Duration, NotSucceeded, Figures.LoadBefore];
}
