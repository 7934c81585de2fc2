using System.Diagnostics;
using System.Globalization;

using MassTransit;

using Workers.Contracts;

namespace Workers.Benchmarks;

/// <summary>
/// One measured round: a fresh fleet, a warm-up load run to its end, N submissions, then the figures from the saga table,
/// the broker's and the database's counters, and /proc.
/// </summary>
public static class FleetRound
{
    // Queue names the hosts declare: the saga's endpoint and the process runtime's dispatch queue.
    const string SagaQueue = "run-state";
    const string DispatchQueue = "runs-process";

    public static async Task<Dictionary<Figure, double>> RunAsync(BenchmarkOptions options, HostBuild hosts, int round, TextWriter progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(hosts);
        ArgumentNullException.ThrowIfNull(progress);
        var n = options.Runs;
        var load = new SubmitLoad(n);

        progress.WriteLine($"round {round}: starting the fleet (orchestrator + {options.Workers} workers × {options.Slots} slots)");
        await using var fleet = await BenchFleet.StartAsync(hosts, options.Workers, options.Slots, cancellationToken);
        fleet.KeepDirectory = options.KeepLogs;
        progress.WriteLine($"round {round}: fleet up{(options.KeepLogs ? $" (logs in {fleet.Directory})" : "")}: vhost {fleet.Vhost.Name}, database {fleet.Database.Name}, orchestrator pid {fleet.Orchestrator.Pid}, " +
            $"workers {string.Join(", ", fleet.Workers.Select(w => w.Pid))}");
        try
        {
            await using var database = await RunDatabase.OpenAsync(fleet.Database, cancellationToken);
            var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(fleet.Vhost.AmqpUrl));
            await bus.StartAsync(cancellationToken);
            try
            {
                // A load like the measured one first, run to its end, so the figures are of a running fleet: fresh processes
                // spend their first tens of seconds under load compiling (JIT tier-up), and open their connections.
                var warmUp = new SubmitLoad(Math.Max(1, options.WarmupRuns));
                progress.WriteLine($"round {round}: warming up with {warmUp.Runs.Count:N0} runs");
                await warmUp.PublishAsync(bus, options.InFlight, cancellationToken);
                await WaitAsync(async () => await database.TerminalCountAsync(warmUp.Runs.Select(r => r.RunId).ToArray(), cancellationToken) == warmUp.Runs.Count,
                    fleet, TimeSpan.FromSeconds(options.RoundTimeoutSeconds), "the warm-up runs", cancellationToken);
                // Let the counters catch up with the start-up and warm-up traffic before the baseline.
                await Task.Delay(BrokerCounters.Refresh, cancellationToken);

                var brokerBefore = await BrokerCounters.ReadAsync(fleet.Vhost, cancellationToken);
                var ownBefore = database.OwnTransactions;
                var (commitsBefore, rollbacksBefore) = await database.TransactionCountsAsync(cancellationToken);
                var cpuBefore = CpuSnapshot.Take();
                var clock = Stopwatch.StartNew();

                progress.WriteLine($"round {round}: publishing {n:N0} SubmitRun ({options.InFlight} in flight)");
                var publishing = load.PublishAsync(bus, options.InFlight, cancellationToken);
                var (sagaBacklog, dispatchBacklog) = await PollUntilAllTerminalAsync(n, warmUp.Runs.Count, fleet, database, publishing, options, round, progress, cancellationToken);
                await publishing;
                var cpuAfter = CpuSnapshot.Take();
                var window = clock.Elapsed.TotalSeconds;
                // Someone else's test may restart a service on a shared machine; the counters would then be meaningless.
                if (!cpuBefore.Pids(p => p.Name == "beam.smp").SetEquals(cpuAfter.Pids(p => p.Name == "beam.smp")))
                    throw new InvalidOperationException("RabbitMQ restarted during the round");

                var rows = await database.RowsAsync(load.Runs.Select(r => r.RunId).ToArray(), cancellationToken);
                if (rows.Count != n)
                    throw new InvalidOperationException($"expected {n} rows in the runs table, found {rows.Count}");

                // The counters are read with the fleet stopped: the broker's refresh lags, and PostgreSQL counts a
                // session's last transactions only when it ends.
                await fleet.StopProcessesAsync(cancellationToken);
                var own = database.OwnTransactions - ownBefore;
                await database.DisposeAsync();
                var (commits, rollbacks) = await RunDatabase.SettledTransactionCountsAsync(fleet.Database, cancellationToken);
                await Task.Delay(BrokerCounters.Refresh, cancellationToken);
                var broker = await BrokerCounters.ReadAsync(fleet.Vhost, cancellationToken) - brokerBefore;

                var figures = RowFigures(rows, load);
                figures[Figures.PublishPerSecond] = n / load.PublishDuration.TotalSeconds;
                figures[Figures.PublishesPerRun] = broker.Published / (double)n;
                figures[Figures.DeliveriesPerRun] = broker.Delivered / (double)n;
                figures[Figures.Redeliveries] = broker.Redelivered;
                figures[Figures.Unroutable] = broker.DroppedUnroutable;
                figures[Figures.CommitsPerRun] = (commits - commitsBefore - own) / (double)n;
                figures[Figures.RollbacksPerRun] = (rollbacks - rollbacksBefore) / (double)n;
                figures[Figures.SagaBacklog] = sagaBacklog;
                figures[Figures.DispatchBacklog] = dispatchBacklog;
                AddCpu(figures, fleet, cpuBefore, cpuAfter, window);
                figures[Figures.CpuPerRun] = (cpuAfter.MachineBusySeconds - cpuBefore.MachineBusySeconds) * 1000 / n;
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
            progress.WriteLine($"round {round} failed; process logs kept in {fleet.Directory}");
            throw;
        }
    }

    /// <summary>RabbitMQ's processes: the Erlang VM and its helpers.</summary>
    public static bool IsBroker(CpuSnapshot.ProcessTimes process)
    {
        ArgumentNullException.ThrowIfNull(process);
        return process.Name is "beam.smp" or "erl_child_setup" or "epmd" or "inet_gethost";
    }

    /// <summary>PostgreSQL's processes: the postmaster, its helpers and the backends.</summary>
    public static bool IsPostgres(CpuSnapshot.ProcessTimes process)
    {
        ArgumentNullException.ThrowIfNull(process);
        return process.Name.StartsWith("postgres", StringComparison.Ordinal);
    }

    static Dictionary<Figure, double> RowFigures(List<RunRow> rows, SubmitLoad load)
    {
        var publishedAt = new Dictionary<Guid, DateTimeOffset>(load.Runs.Count);
        for (var i = 0; i < load.Runs.Count; i++)
            publishedAt[load.Runs[i].RunId] = load.PublishedAt(i);

        var lastFinish = rows.Max(r => r.FinishedAt ?? r.SubmittedAt);
        var duration = (lastFinish - load.FirstPublishAt).TotalSeconds;
        var dispatch = Sorted(rows.Where(r => r.StartedAt is not null).Select(r => (r.StartedAt!.Value - r.SubmittedAt).TotalMilliseconds));
        var finish = Sorted(rows.Where(r => r.FinishedAt is not null).Select(r => (r.FinishedAt!.Value - r.SubmittedAt).TotalMilliseconds));
        var intake = Sorted(rows.Select(r => (r.SubmittedAt - publishedAt[r.RunId]).TotalMilliseconds));
        return new Dictionary<Figure, double>
        {
            [Figures.RunsPerSecond] = rows.Count / duration,
            [Figures.Duration] = duration,
            [Figures.DispatchP50] = Stats.Percentile(dispatch, 0.50),
            [Figures.DispatchP99] = Stats.Percentile(dispatch, 0.99),
            [Figures.FinishP50] = Stats.Percentile(finish, 0.50),
            [Figures.FinishP99] = Stats.Percentile(finish, 0.99),
            [Figures.IntakeP50] = Stats.Percentile(intake, 0.50),
            [Figures.IntakeP99] = Stats.Percentile(intake, 0.99),
            [Figures.NotSucceeded] = rows.Count(r => r.State != "Succeeded"),
            [Figures.Redispatched] = rows.Count(r => r.DispatchCount > 1),
            [Figures.Retried] = rows.Count(r => r.Attempt > 1),
        };
    }

    static double[] Sorted(IEnumerable<double> values)
    {
        var array = values.ToArray();
        Array.Sort(array);
        return array;
    }

    /// <summary>Each part of the fleet's CPU over a window, in cores; the machine's too.</summary>
    internal static void AddCpu(Dictionary<Figure, double> figures, BenchFleet fleet, CpuSnapshot before, CpuSnapshot after, double seconds)
    {
        var workers = fleet.Workers.Select(w => w.Pid).ToHashSet();
        var orchestrator = fleet.Orchestrator.Pid;
        var self = Environment.ProcessId;

        var parts = new Dictionary<Figure, double>
        {
            [Figures.CpuOrchestrator] = CpuSnapshot.Used(before, after, p => p.Pid == orchestrator, countReapedChildren: false),
            [Figures.CpuWorkers] = CpuSnapshot.Used(before, after, p => workers.Contains(p.Pid), countReapedChildren: false),
            [Figures.CpuAgents] = CpuSnapshot.ReapedBy(before, after, workers),
            [Figures.CpuBroker] = CpuSnapshot.Used(before, after, IsBroker, countReapedChildren: true),
            [Figures.CpuPostgres] = CpuSnapshot.Used(before, after, IsPostgres, countReapedChildren: true),
            [Figures.CpuBench] = CpuSnapshot.Used(before, after, p => p.Pid == self, countReapedChildren: false),
        };
        var machine = after.MachineBusySeconds - before.MachineBusySeconds;
        foreach (var (figure, used) in parts)
            figures[figure] = used / seconds;
        figures[Figures.CpuOther] = (machine - parts.Values.Sum()) / seconds;
        figures[Figures.CpuMachine] = machine / seconds;
    }

    static async Task<(long SagaBacklog, long DispatchBacklog)> PollUntilAllTerminalAsync(long measured, long warm, BenchFleet fleet, RunDatabase database,
        Task publishing, BenchmarkOptions options, int round, TextWriter progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var timeout = TimeSpan.FromSeconds(options.RoundTimeoutSeconds);
        var lastQueues = TimeSpan.Zero;
        var lastProgress = TimeSpan.Zero;
        long sagaBacklog = 0, dispatchBacklog = 0;
        while (true)
        {
            if (publishing.IsFaulted)
                await publishing; // surfaces the publish failure
            fleet.ThrowIfAnyExited();
            var done = await database.TerminalCountAsync(cancellationToken);
            if (done >= warm + measured)
                return (sagaBacklog, dispatchBacklog);
            if (clock.Elapsed - lastQueues >= TimeSpan.FromSeconds(1))
            {
                lastQueues = clock.Elapsed;
                sagaBacklog = Math.Max(sagaBacklog, (await fleet.Vhost.GetQueueDepthAsync(SagaQueue, cancellationToken)).Messages);
                dispatchBacklog = Math.Max(dispatchBacklog, (await fleet.Vhost.GetQueueDepthAsync(DispatchQueue, cancellationToken)).Messages);
            }
            if (clock.Elapsed - lastProgress >= TimeSpan.FromSeconds(5))
            {
                lastProgress = clock.Elapsed;
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"round {round}: {clock.Elapsed.TotalSeconds,5:0} s  terminal {done - warm:N0}/{measured:N0}  max backlog saga {sagaBacklog:N0}, dispatch {dispatchBacklog:N0}"));
            }
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"only {done - warm} of {measured} runs terminal after {timeout.TotalSeconds:0} s (--round-timeout)");
            // Once a second: the count reads every row of the round (16 ms of PostgreSQL's time at 25,000 runs); polled every
            // 250 ms it was about a tenth of the database's CPU, taken from the fleet it measures. Throughput comes from finished_at.
            await Task.Delay(1000, cancellationToken);
        }
    }

    static async Task WaitAsync(Func<Task<bool>> condition, BenchFleet fleet, TimeSpan timeout, string what, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            fleet.ThrowIfAnyExited();
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"{what} did not finish within {timeout.TotalSeconds:0} s");
            await Task.Delay(100, cancellationToken);
        }
    }
}
