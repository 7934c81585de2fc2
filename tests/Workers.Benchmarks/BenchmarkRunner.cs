using System.Globalization;
using Workers.Testing;

namespace Workers.Benchmarks;

/// <summary>Runs the rounds and the floors in turn (round-robin, so drift on a noisy machine spreads over both) and reports.</summary>
public static class BenchmarkRunner
{
    public static async Task<int> RunAsync(BenchmarkOptions options, TextWriter output, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(progress);
        if (HostBuild.Problem() is { } problem)
        {
            progress.WriteLine($"error: {problem}");
            return 2;
        }

        using var hosts = HostBuild.Snapshot();
        hosts.QueuePolicy = options.QueuePolicy;
        var machine = await MachineInfo.CollectAsync(hosts, cancellationToken);
        var path = options.DocPath ?? Path.Combine(RepoPaths.Root, "docs", "benchmarks.md");
        double? throughput = null;
        if (options.RunsThroughput)
            throughput = await ThroughputAsync(options, hosts, machine, path, output, progress, cancellationToken);
        if (options.RunsEmbedded)
            await FaultAsync(options, hosts, machine, path, "embedded", EmbeddedRound.RunAsync, EmbeddedFigures.All, output, progress, cancellationToken);
        if (options.RunsCrash)
            await FaultAsync(options, hosts, machine, path, "crash", (o, h, r, p, c) => CrashRound.RunAsync(o, h, r, p, c), CrashFigures.All, output, progress, cancellationToken);
        if (options.RunsCrashSpare)
        {
            await FaultAsync(options, hosts, machine, path, "crash-spare", (o, h, r, p, c) => CrashRound.RunAsync(o, h, r, p, c, CrashRound.SpareRuns),
                CrashFigures.All, output, progress, cancellationToken);
        }
        if (options.RunsPriority)
            await FaultAsync(options, hosts, machine, path, "priority", PriorityRound.RunAsync, PriorityFigures.All, output, progress, cancellationToken);
        if (options.RunsCancel)
            await FaultAsync(options, hosts, machine, path, "cancel", CancelRound.RunAsync, CancelFigures.All, output, progress, cancellationToken);
        if (options.RunsDensity)
            await FaultAsync(options, hosts, machine, path, "density", DensityRound.RunAsync, DensityFigures.All, output, progress, cancellationToken);
        if (options.RunsNativeDensity)
        {
            await FaultAsync(options, hosts, machine, path, "native-density", NativeRounds.DensityAsync, DensityFigures.All, output, progress,
                cancellationToken);
        }
        if (options.RunsNativeOverhead)
        {
            await FaultAsync(options, hosts, machine, path, "native-overhead", NativeRounds.OverheadAsync, NativeFigures.All, output,
                progress, cancellationToken);
        }
        if (options.RunsLatency)
        {
            var rate = options.LatencyRate ?? (throughput ?? await MeasureThroughputOnceAsync(options, hosts, progress, cancellationToken)) / 2;
            if (!(rate > 0))
                throw new InvalidOperationException("W6 has no rate: W1 measured nothing; give --w6-rate");
            List<Floor> floors = options.SkipFloor ? [] : [Floor.MassTransitLatency(LatencyRound.FloorRuns), Floor.PhysicalLatency(LatencyRound.FloorRuns)];
            foreach (var floor in floors)
                await floor.BuildAsync(progress, cancellationToken);
            await FaultAsync(options, hosts, machine, path, "latency", async (o, h, r, p, c) =>
            {
                var measured = await LatencyFloorsAsync(floors, o, p, c);
                var figures = await LatencyRound.RunAsync(o, h, r, rate, p, c);
                LatencyFigures.AddFloors(figures, measured);
                return figures;
            }, LatencyFigures.All, output, progress, cancellationToken);
        }
        if (options.RunsBullMq)
        {
            if (await PeerBenchmarks.ProblemAsync(cancellationToken) is { } missing)
            {
                progress.WriteLine($"bullmq: skipped: {missing}");
                if (!options.NoDoc)
                    Report.WriteFaultBlock(path, "bullmq", Report.FaultBlock("bullmq", machine, options, $"{PeerBenchmarks.Title}\n\n**Not measured in this invocation:** {missing}.\n", []));
            }
            else
            {
                await FaultAsync(options, hosts, machine, path, "bullmq", PeerBenchmarks.RunAsync, PeerFigures.All, output, progress, cancellationToken);
            }
        }
        if (!options.NoDoc)
            await Chart.DrawAsync(path, progress, cancellationToken);
        return 0;
    }

    delegate Task<Dictionary<Figure, double>> RoundAsync(BenchmarkOptions options, HostBuild hosts, int round, TextWriter progress, CancellationToken cancellationToken);

    /// <summary>Every workload but W1: rounds on fresh fleets, each repeated (within --retries) if it failed. W6 runs its latency floors inside its rounds.</summary>
    static async Task FaultAsync(BenchmarkOptions options, HostBuild hosts, MachineInfo machine, string path, string workload, RoundAsync measure,
        IReadOnlyList<Figure> all, TextWriter output, TextWriter progress, CancellationToken cancellationToken)
    {
        var quietPatience = TimeSpan.FromSeconds(options.QuietTimeoutSeconds);
        var rounds = new List<Dictionary<Figure, double>>();
        var failures = 0;
        for (var round = 1; round <= options.Rounds; round++)
        {
            for (var attempt = 0; attempt <= options.Retries; attempt++)
            {
                var load = await QuietMachine.WaitAsync(options.QuietBelow, quietPatience, $"{workload} round {round}", progress, cancellationToken);
                try
                {
                    var figures = await measure(options, hosts, round, progress, cancellationToken);
                    figures[Figures.LoadBefore] = load;
                    rounds.Add(figures);
                    break;
                }
                catch (Exception e) when (e is not OperationCanceledException && attempt < options.Retries)
                {
                    failures++;
                    progress.WriteLine($"{workload} round {round} failed ({e.GetType().Name}: {FirstLine(e.Message)}); measuring again ({attempt + 1} of {options.Retries} retries)");
                }
            }
        }
        var results = Report.FaultResults(workload, rounds, all, failures);
        output.WriteLine();
        output.Write(results);
        if (!options.NoDoc)
        {
            Report.WriteFaultBlock(path, workload, Report.FaultBlock(workload, machine, options, results, all));
            Chart.Record(path, workload, rounds, all);
            progress.WriteLine($"wrote {path} ({workload})");
        }
    }

    /// <summary>W6 needs the maximum rate: one W1 round (no floors) when W1 is not part of this invocation.</summary>
    static async Task<double> MeasureThroughputOnceAsync(BenchmarkOptions options, HostBuild hosts, TextWriter progress, CancellationToken cancellationToken)
    {
        progress.WriteLine("latency: no --w6-rate and no W1 in this invocation; measuring one W1 round for the maximum rate");
        await QuietMachine.WaitAsync(options.QuietBelow, TimeSpan.FromSeconds(options.QuietTimeoutSeconds), "the W1 round for W6", progress, cancellationToken);
        var figures = await FleetRound.RunAsync(options, hosts, 1, progress, cancellationToken);
        return figures[Figures.RunsPerSecond];
    }

    /// <summary>W1 with its floors; returns the median runs/s.</summary>
    static async Task<double> ThroughputAsync(BenchmarkOptions options, HostBuild hosts, MachineInfo machine, string path, TextWriter output, TextWriter progress,
        CancellationToken cancellationToken)
    {
        List<Floor> floors = options.SkipFloor ? [] :
            [Floor.Physical(options.FloorRuns), Floor.MassTransit(options.MassTransitFloorRuns), Floor.Agent(options.AgentFloorRuns, options.Workers * options.Slots)];
        foreach (var floor in floors)
            await floor.BuildAsync(progress, cancellationToken);

        var quietPatience = TimeSpan.FromSeconds(options.QuietTimeoutSeconds);
        var rounds = new List<Dictionary<Figure, double>>();
        var failures = 0;
        for (var round = 1; round <= options.Rounds; round++)
        {
            Dictionary<Figure, double> figures = [];
            for (var attempt = 0; attempt <= options.Retries; attempt++)
            {
                var load = await QuietMachine.WaitAsync(options.QuietBelow, quietPatience, $"round {round}", progress, cancellationToken);
                try
                {
                    figures = await FleetRound.RunAsync(options, hosts, round, progress, cancellationToken);
                }
                catch (Exception e) when (e is not OperationCanceledException && attempt < options.Retries)
                {
                    // A shared machine: another test may restart the broker or the database under the round.
                    failures++;
                    progress.WriteLine($"round {round} failed ({e.GetType().Name}: {FirstLine(e.Message)}); measuring again ({attempt + 1} of {options.Retries} retries)");
                    continue;
                }
                figures[Figures.LoadBefore] = load;
                progress.WriteLine($"round {round}: {figures[Figures.RunsPerSecond]:N0} runs/s, dispatch p50 {figures[Figures.DispatchP50]:N1} ms, " +
                    $"p99 {figures[Figures.DispatchP99]:N1} ms, {figures[Figures.NotSucceeded]} not Succeeded, others' CPU {figures[Figures.CpuOther]:0.00} cores");
                if (!Disturbed(figures[Figures.CpuOther], options, $"round {round}", attempt, progress))
                    break;
            }
            var disturbed = figures[Figures.CpuOther] > options.QuietBelow ? 1 : 0;

            foreach (var floor in floors)
            {
                if (await MeasureFloorAsync(floor, figures, options, progress, cancellationToken))
                    disturbed++;
            }
            figures[Figures.Disturbed] = disturbed;
            figures[Figures.FailedAttempts] = failures;
            failures = 0;
            rounds.Add(figures);
        }

        var results = Report.Results(options, rounds, floors);
        output.WriteLine();
        output.Write(results);
        if (!options.NoDoc)
        {
            Report.WriteDocument(path, Report.DocumentBlock(machine, options, results));
            Chart.Record(path, "throughput", rounds, Figures.All);
            progress.WriteLine($"wrote {path}");
        }
        return Stats.Median(rounds, Figures.RunsPerSecond);
    }

    /// <summary>W6's latency floors, measured just before its round.</summary>
    static async Task<Dictionary<Figure, double>> LatencyFloorsAsync(IReadOnlyList<Floor> floors, BenchmarkOptions options, TextWriter progress,
        CancellationToken cancellationToken)
    {
        var figures = new Dictionary<Figure, double>();
        foreach (var floor in floors)
            await MeasureFloorAsync(floor, figures, options, progress, cancellationToken);
        return figures;
    }

    /// <summary>
    /// Runs one floor on a quiet machine, again (within --retries) if other load disturbed it, and records its figures in
    /// <paramref name="figures"/>. True when the run kept was disturbed all the same.
    /// </summary>
    static async Task<bool> MeasureFloorAsync(Floor floor, Dictionary<Figure, double> figures, BenchmarkOptions options, TextWriter progress,
        CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt <= options.Retries; attempt++)
        {
            await QuietMachine.WaitAsync(options.QuietBelow, TimeSpan.FromSeconds(options.QuietTimeoutSeconds), floor.Command, progress, cancellationToken);
            var (value, others) = await floor.RunAsync(progress, cancellationToken);
            figures[floor.Figure] = value;
            foreach (var (figure, extra) in floor.LastExtras)
                figures[figure] = extra;
            var shown = value.ToString("N" + floor.Figure.Decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
            progress.WriteLine($"{floor.Figure.Label}: {shown}, others' CPU {others:0.00} cores");
            if (!Disturbed(others, options, floor.Command, attempt, progress))
                break;
        }
        return floor.LastOthers > options.QuietBelow && !double.IsNaN(figures[floor.Figure]);
    }

    static string FirstLine(string text) => text.Split('\n', 2)[0];

    static bool Disturbed(double others, BenchmarkOptions options, string what, int attempt, TextWriter progress)
    {
        if (others <= options.QuietBelow)
            return false;
        progress.WriteLine(attempt < options.Retries
            ? $"{what}: other processes used {others:0.00} cores meanwhile; measuring again ({attempt + 1} of {options.Retries} retries)"
            : $"{what}: other processes used {others:0.00} cores meanwhile and no retries are left; keeping it (counted as disturbed)");
        return true;
    }
}
