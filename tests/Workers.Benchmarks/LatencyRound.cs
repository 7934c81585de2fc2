using System.Diagnostics;
using System.Globalization;

using MassTransit;

using Workers.Contracts;

namespace Workers.Benchmarks;

/// <summary>
/// W6, dispatch latency at half the maximum rate: no-op runs submitted at a steady pace (half the W1 median, or <c>--w6-rate</c>)
/// to the same fleet as W1, for a warm-up (at least <c>--w6-warmup</c>, then until the fleet keeps pace) and then <c>--w6-seconds</c>; latency is submit (the benchmark's publish) →
/// the agent running, by the agent's own clock (<see cref="BenchFleet.ClockAgent"/>), and, beside it, → the lease (the saga's
/// <c>started_at</c>). The figures are of the runs after the warm-up, a fleet in steady state; the warm-up's own latency is
/// reported beside them, as what a freshly started fleet gives at this rate.
/// </summary>
public static class LatencyRound
{
    public static string Title =>
        "W6, dispatch latency at half the maximum rate: no-op runs published one by one at a fixed pace (half the W1 runs/s median measured in the same " +
        "invocation, or `--w6-rate`), on the W1 fleet (`--workers` × `--slots`): first a warm-up of at least `--w6-warmup` seconds, while the fresh " +
        "processes compile (JIT tier-up), and then until the fleet keeps pace (every run published over a second before has started; at most " +
        "`--w6-warmup-max` seconds), then for `--w6-seconds`, the runs measured. The agent is `noop-clock` (`/bin/date`, printing the moment it started as " +
        "its result). Latency = when the agent started − the moment the benchmark began that run's publish (same machine, same clock); beside it, the " +
        "saga's `started_at` (the lease) − that moment. Just before each round (unless `--skip-floor`), the MassTransit and raw RabbitMQ.Client round trips " +
        "with one publish in flight give the latency of the two messages alone.";

    /// <summary>Round trips each latency floor measures.</summary>
    public const int FloorRuns = 3000;

    public static async Task<Dictionary<Figure, double>> RunAsync(BenchmarkOptions options, HostBuild hosts, int round, double rate, TextWriter progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        var minimumWarm = (int)Math.Ceiling(rate * options.LatencyWarmupSeconds);
        var maximumWarm = options.LatencyWarmupSeconds == 0 ? 0 : (int)Math.Ceiling(rate * Math.Max(options.LatencyWarmupSeconds, options.LatencyWarmupMaxSeconds));
        // Whether the warm-up may go on past its minimum, until the fleet keeps pace.
        var waitsForPace = maximumWarm > minimumWarm;
        var measured = Math.Max(1, (int)Math.Ceiling(rate * options.LatencySeconds));
        return await Fault.InFleetAsync(options, hosts, "latency", round, options.Workers, options.Slots, progress, async (fleet, database, bus) =>
        {
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"latency round {round}: {minimumWarm:N0}-{maximumWarm:N0} warm-up runs (until the fleet keeps pace), then {measured:N0} measured, at {rate:0.#} runs/s"));
            var ids = Enumerable.Range(0, maximumWarm + measured).Select(_ => NewId.NextGuid()).ToArray();
            // Messages and commits are counted over every paced run, warm-up included (the same pace throughout): the
            // broker's counters refresh every few seconds, too coarse to cut out the measured window alone.
            await Task.Delay(BrokerCounters.Refresh, cancellationToken);
            var brokerBefore = await BrokerCounters.ReadAsync(fleet.Vhost, cancellationToken);
            var ownBefore = database.OwnTransactions;
            var (commitsBefore, _) = await database.TransactionCountsAsync(cancellationToken);
            var publishedAt = new DateTimeOffset[ids.Length];
            var priorities = ids.Select(_ => Random.Shared.Next(0, 10)).ToArray();
            var pending = new List<Task>(ids.Length);
            var clock = Stopwatch.StartNew();
            using var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var pace = new PaceWatch(database, ids, publishedAt, clock, TimeSpan.FromSeconds(options.LatencyWarmupSeconds));
            var watching = waitsForPace ? pace.WatchAsync(stopWatching.Token) : Task.CompletedTask;
            CpuSnapshot? cpuAtMeasured = null;
            var measuredFrom = TimeSpan.Zero;
            var warm = -1;
            var n = ids.Length;
            for (var i = 0; i < n; i++)
            {
                // Paced against the start, not the previous publish, so a late tick does not slow the whole series.
                var due = TimeSpan.FromSeconds(i / rate);
                if (due - clock.Elapsed is { TotalMilliseconds: > 1 } wait)
                    await Task.Delay(wait, cancellationToken);
                // The warm-up lasts at least --w6-warmup, then until the fleet keeps pace (a cold fleet falls behind
                // while it compiles, and a backlog drains slowly at a pace near its capacity), at most --w6-warmup-max.
                if (warm < 0 && i >= minimumWarm && (pace.KeptPaceAt is not null || i >= maximumWarm))
                {
                    warm = i;
                    n = warm + measured;
                    // How busy the machine is at this pace: the measured publishes' window, elapsed time less idle time.
                    cpuAtMeasured = CpuSnapshot.Take();
                    measuredFrom = clock.Elapsed;
                    await stopWatching.CancelAsync();
                }
                publishedAt[i] = DateTimeOffset.UtcNow;
                pace.Published(i + 1);
                pending.Add(SubmitLoad.PublishAsync(bus, new SubmitRun { RunId = ids[i], Agent = BenchFleet.ClockAgent, Input = "bench", Priority = priorities[i] },
                    cancellationToken));
                if (i % 64 == 0)
                    fleet.ThrowIfAnyExited();
            }
            var pacedFor = clock.Elapsed;
            var cpuPaced = CpuSnapshot.Take();
            await watching;
            ids = ids[..n];
            if (pace.KeptPaceAt is null && waitsForPace)
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"latency round {round}: the fleet had not kept pace after {measuredFrom.TotalSeconds:0} s of warm-up (--w6-warmup-max); measuring anyway, with its backlog"));
            var busy = cpuPaced.MachineBusySeconds - cpuAtMeasured!.MachineBusySeconds;
            await Task.WhenAll(pending);
            await Fault.WaitAsync(async () => await database.TerminalCountAsync(ids, cancellationToken) == n, fleet, null,
                TimeSpan.FromSeconds(options.RoundTimeoutSeconds), $"all {n:N0} runs terminal", cancellationToken);

            var allRows = await database.RowsAsync(ids, cancellationToken);
            // As in W1, the counters are read with the fleet stopped: PostgreSQL counts a session's last transactions
            // only when it ends, and the broker's figures lag.
            await fleet.StopProcessesAsync(cancellationToken);
            var own = database.OwnTransactions - ownBefore;
            await database.DisposeAsync(); // its session must end too (disposing it again, after the round, does nothing)
            var (commits, _) = await RunDatabase.SettledTransactionCountsAsync(fleet.Database, cancellationToken);
            await Task.Delay(BrokerCounters.Refresh, cancellationToken);
            var broker = await BrokerCounters.ReadAsync(fleet.Vhost, cancellationToken) - brokerBefore;
            var index = ids.Select((id, i) => (id, i)).ToDictionary(x => x.id, x => x.i);
            var rows = allRows.Where(r => index[r.RunId] >= warm).ToList();
            var started = rows.Where(r => r.StartedAt is not null).ToList();
            var latency = Fault.Sorted(started.Select(r => (r.StartedAt!.Value - publishedAt[index[r.RunId]]).TotalMilliseconds));
            var ran = Fault.Sorted(rows.Where(r => r.AgentStartedAt is not null)
                .Select(r => (r.AgentStartedAt!.Value - publishedAt[index[r.RunId]]).TotalMilliseconds));
            var intake = Fault.Sorted(rows.Select(r => (r.SubmittedAt - publishedAt[index[r.RunId]]).TotalMilliseconds));
            var saga = Fault.Sorted(started.Select(r => (r.StartedAt!.Value - r.SubmittedAt).TotalMilliseconds));
            var warmLatency = Fault.Sorted(allRows.Where(r => index[r.RunId] < warm && r.StartedAt is not null)
                .Select(r => (r.StartedAt!.Value - publishedAt[index[r.RunId]]).TotalMilliseconds));
            if (options.LatencyCsvPath is { } csv)
                await RunTimesCsv.AppendAsync(csv, round, warm, allRows.Select(r => (index[r.RunId], r)), publishedAt, priorities, cancellationToken);
            var figures = new Dictionary<Figure, double>
            {
                [LatencyFigures.TargetRate] = rate,
                [LatencyFigures.AchievedRate] = n / Math.Max(pacedFor.TotalSeconds, 1e-3),
                [LatencyFigures.Runs] = measured,
                [LatencyFigures.AgentP50] = Stats.Percentile(ran, 0.50),
                [LatencyFigures.AgentP99] = Stats.Percentile(ran, 0.99),
                [LatencyFigures.P50] = Stats.Percentile(latency, 0.50),
                [LatencyFigures.P99] = Stats.Percentile(latency, 0.99),
                [LatencyFigures.Max] = latency.Count > 0 ? latency[^1] : double.NaN,
                [LatencyFigures.IntakeP50] = Stats.Percentile(intake, 0.50),
                [LatencyFigures.IntakeP99] = Stats.Percentile(intake, 0.99),
                [LatencyFigures.SagaP50] = Stats.Percentile(saga, 0.50),
                [LatencyFigures.SagaP99] = Stats.Percentile(saga, 0.99),
                [LatencyFigures.WarmupRuns] = warm,
                [LatencyFigures.WarmupSeconds] = measuredFrom.TotalSeconds,
                [LatencyFigures.KeptPaceAfter] = pace.KeptPaceAt?.TotalSeconds ?? double.NaN,
                [LatencyFigures.WarmupP50] = Stats.Percentile(warmLatency, 0.50),
                [LatencyFigures.WarmupP99] = Stats.Percentile(warmLatency, 0.99),
                [LatencyFigures.CpuMachine] = busy / Math.Max((pacedFor - measuredFrom).TotalSeconds, 1e-3),
                [LatencyFigures.CpuPerRun] = busy * 1000 / Math.Max(1, n - warm),
                [Figures.PublishesPerRun] = broker.Published / (double)n,
                [Figures.CommitsPerRun] = (commits - commitsBefore - own) / (double)n,
                [LatencyFigures.NotSucceeded] = allRows.Count(r => r.State != "Succeeded") + (n - allRows.Count),
            };
            FleetRound.AddCpu(figures, fleet, cpuAtMeasured, cpuPaced, (pacedFor - measuredFrom).TotalSeconds);
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"latency round {round}: submit → agent started p50 {figures[LatencyFigures.AgentP50]:0.0} ms, p99 {figures[LatencyFigures.AgentP99]:0.0} ms; " +
                $"submit → lease p50 {figures[LatencyFigures.P50]:0.0} ms, p99 {figures[LatencyFigures.P99]:0.0} ms " +
                $"at {figures[LatencyFigures.AchievedRate]:0.#} runs/s"));
            return figures;
        }, cancellationToken);
    }
}

/// <summary>The latency workload's figures, in report order.</summary>
public static class LatencyFigures
{
    public static readonly Figure TargetRate = new("w6_target_rate", "target submission rate, runs/s", 1,
        "Half the W1 runs/s median of this invocation, or `--w6-rate`.");
    public static readonly Figure AchievedRate = new("w6_achieved_rate", "achieved submission rate, runs/s", 1, "Runs, warm-up included / (first publish → last publish started).");
    public static readonly Figure Runs = new("w6_runs", "runs measured", 0, "Target rate × `--w6-seconds`: the runs submitted after the warm-up.");
    public static readonly Figure AgentP50 = new("w6_agent_p50_ms", "**submit → agent started p50, ms**", 1,
        "When the agent started, by its own clock (W6's agent is `/bin/date`, which prints it as its result) − the moment the benchmark " +
        "began that run's publish: the saga, the way to the worker (handed over to an offered slot, or the queue and a claim), the worker " +
        "and the spawn. Measured runs that succeeded.");
    public static readonly Figure AgentP99 = new("w6_agent_p99_ms", "**submit → agent started p99, ms**", 1, "As above, 99th percentile.");
    public static readonly Figure P50 = new("w6_dispatch_p50_ms", "submit → lease granted p50, ms", 1,
        "The saga's `started_at` (the lease granted: at acceptance for a run handed to an offered slot, at its claim otherwise) − the " +
        "moment the benchmark began that run's publish.");
    public static readonly Figure P99 = new("w6_dispatch_p99_ms", "submit → lease granted p99, ms", 1, "As above, 99th percentile.");
    public static readonly Figure Max = new("w6_dispatch_max_ms", "submit → lease granted max, ms", 1, "As above, the slowest run.");
    public static readonly Figure IntakeP50 = new("w6_intake_p50_ms", "submit → accepted by the saga p50, ms", 1, "`submitted_at` − publish.");
    public static readonly Figure IntakeP99 = new("w6_intake_p99_ms", "submit → accepted by the saga p99, ms", 1, "As above, 99th percentile.");
    public static readonly Figure SagaP50 = new("w6_saga_p50_ms", "accepted → lease granted p50, ms", 1,
        "`started_at − submitted_at`: none for a run handed to an offered slot; the dispatch queue and the claim otherwise.");
    public static readonly Figure SagaP99 = new("w6_saga_p99_ms", "accepted → lease granted p99, ms", 1, "As above, 99th percentile.");
    public static readonly Figure WarmupRuns = new("w6_warmup_runs", "warm-up runs (not in the figures above)", 0,
        "Submitted at the same pace to the freshly started fleet before the measured runs: at least target rate × `--w6-warmup`.");
    public static readonly Figure WarmupSeconds = new("w6_warmup_s", "warm-up length, s", 1,
        "At least `--w6-warmup`; longer when the fleet had not yet kept pace then, at most `--w6-warmup-max`.");
    public static readonly Figure KeptPaceAfter = new("w6_kept_pace_s", "fresh fleet kept pace after, s", 1,
        "From the first publish until every run published over a second before had started, checked once a second after `--w6-warmup`; " +
        "– when it did not happen within `--w6-warmup-max` (the measured runs then include a backlog).");
    public static readonly Figure WarmupP50 = new("w6_warmup_p50_ms", "warm-up: submit → lease granted p50, ms", 1,
        "The same latency for the warm-up runs: what a fleet gives at this rate in its first seconds, while its processes compile.");
    public static readonly Figure WarmupP99 = new("w6_warmup_p99_ms", "warm-up: submit → lease granted p99, ms", 1, "As above, 99th percentile.");
    public static readonly Figure CpuMachine = new("w6_cpu_machine", "CPU, whole machine busy while measured (cores)", 2,
        "Elapsed time × cores, less idle and iowait (/proc/stat), first measured publish → last publish: how close to saturated this pace keeps the machine.");
    public static readonly Figure CpuPerRun = new("w6_cpu_ms_per_run", "CPU per run at this pace, ms (whole machine)", 2,
        "Machine busy time over that window / runs measured. Compare with W1's at full load, where more runs share each message and commit.");
    public static readonly Figure NotSucceeded = new("w6_not_succeeded", "runs not Succeeded", 0, "Warm-up and measured runs; should be 0.");
    public static readonly Figure FloorMassTransitP50 = new("w6_floor_mt_p50_ms", "floor: MassTransit round trip, one publish at a time, p50 ms", 2,
        $"`MtFloor roundtrip --n {LatencyRound.FloorRuns} --prefetch 32 --publishers 1` (shared/peers), run just before the round: publish of a request → " +
        "its completion event consumed, the two messages W6's path also takes (submission, then hand-over), with nothing else in the way.");
    public static readonly Figure FloorMassTransitP99 = new("w6_floor_mt_p99_ms", "floor: MassTransit round trip, one publish at a time, p99 ms", 2, "As above, 99th percentile.");
    public static readonly Figure FloorPhysicalP50 = new("w6_floor_physical_p50_ms", "floor: raw RabbitMQ.Client round trip, one publish at a time, p50 ms", 2,
        $"`Physical roundtrip --n {LatencyRound.FloorRuns} --prefetch 32 --window 1` (shared/peers), run just before the round: the same round trip without a framework.");
    public static readonly Figure FloorPhysicalP99 = new("w6_floor_physical_p99_ms", "floor: raw RabbitMQ.Client round trip, one publish at a time, p99 ms", 2, "As above, 99th percentile.");
    public static readonly Figure RatioMassTransitP50 = new("w6_agent_p50_per_mt", "**submit → agent started p50 ÷ MassTransit floor p50**", 1,
        "Per round, against the floor measured just before it. W6's path adds a database commit and an agent's start to the floor's two messages.");
    public static readonly Figure RatioMassTransitP99 = new("w6_agent_p99_per_mt", "submit → agent started p99 ÷ MassTransit floor p99", 1, "As above, 99th percentiles.");
    public static readonly Figure RatioPhysicalP50 = new("w6_agent_p50_per_physical", "submit → agent started p50 ÷ raw floor p50", 1, "As above, against the raw RabbitMQ.Client floor.");
    public static readonly Figure RatioPhysicalP99 = new("w6_agent_p99_per_physical", "submit → agent started p99 ÷ raw floor p99", 1, "As above, 99th percentiles.");

    public static readonly IReadOnlyList<Figure> All =
        [TargetRate, AchievedRate, Runs, AgentP50, AgentP99, P50, P99, Max, IntakeP50, IntakeP99, SagaP50, SagaP99, WarmupRuns, WarmupSeconds, KeptPaceAfter, WarmupP50, WarmupP99, CpuMachine, CpuPerRun,
            Figures.CpuOrchestrator, Figures.CpuWorkers, Figures.CpuAgents, Figures.CpuBroker, Figures.CpuPostgres, Figures.CpuBench, Figures.CpuOther,
            Figures.PublishesPerRun, Figures.CommitsPerRun, NotSucceeded,
            FloorMassTransitP50, FloorMassTransitP99, FloorPhysicalP50, FloorPhysicalP99, RatioMassTransitP50, RatioMassTransitP99, RatioPhysicalP50, RatioPhysicalP99,
            Figures.LoadBefore];

    /// <summary>Adds the floors' figures and W6's latency over each of them to <paramref name="round"/>.</summary>
    public static void AddFloors(Dictionary<Figure, double> round, IReadOnlyDictionary<Figure, double> floors)
    {
        ArgumentNullException.ThrowIfNull(round);
        ArgumentNullException.ThrowIfNull(floors);
        foreach (var (figure, value) in floors)
            round[figure] = value;
        round[RatioMassTransitP50] = Over(round, AgentP50, FloorMassTransitP50);
        round[RatioMassTransitP99] = Over(round, AgentP99, FloorMassTransitP99);
        round[RatioPhysicalP50] = Over(round, AgentP50, FloorPhysicalP50);
        round[RatioPhysicalP99] = Over(round, AgentP99, FloorPhysicalP99);
    }

    static double Over(Dictionary<Figure, double> round, Figure value, Figure floor) =>
        round.GetValueOrDefault(floor, double.NaN) is var f && f > 0 ? round.GetValueOrDefault(value, double.NaN) / f : double.NaN;
}
