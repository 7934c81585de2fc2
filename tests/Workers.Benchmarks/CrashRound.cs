using System.Globalization;

using MassTransit;

namespace Workers.Benchmarks;

/// <summary>
/// W3, crash recovery: 100 runs of the <c>count</c> agent (5 s) on two workers × 10 slots; 2 s after the first submit one
/// worker is killed with SIGKILL, its whole process tree at once (<see cref="Workers.Testing.ManagedProcess.Kill"/>).
/// Its runs are retried on the survivor once their leases lapse (default lease 8 s, heartbeat 2 s).
/// </summary>
public static class CrashRound
{
    public const int Runs = 100;

    /// <summary>Runs of the spare-capacity variant: few enough that the survivor has free slots when the lost runs come back.</summary>
    public const int SpareRuns = 10;
    public const int WorkerCount = 2;
    public const int Slots = 10;
    public static readonly TimeSpan KillAfter = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The lease settings the fleet ran with: the hosts' defaults (<c>RunOptions</c>, <c>WorkerOptions</c>) unless this
    /// process's environment overrides them, which every fleet process inherits.
    /// </summary>
    public static string LeaseSettings
    {
        get
        {
            var lease = Environment.GetEnvironmentVariable("Workers__Runs__LeaseDuration");
            var heartbeat = Environment.GetEnvironmentVariable("Workers__Worker__HeartbeatInterval");
            return string.IsNullOrEmpty(lease) && string.IsNullOrEmpty(heartbeat)
                ? $"Default lease {DefaultLease}, heartbeat {DefaultHeartbeat}."
                : $"Lease {Setting(lease, DefaultLease)}, heartbeat {Setting(heartbeat, DefaultHeartbeat)}, set by the environment.";

            static string Setting(string? value, string fallback) => string.IsNullOrEmpty(value) ? $"{fallback} (default)" : value;
        }
    }

    // The hosts' defaults (RunOptions.LeaseDuration, WorkerOptions.HeartbeatInterval); this project does not reference them.
    const string DefaultLease = "8 s";
    const string DefaultHeartbeat = "2 s";

    public static async Task<Dictionary<Figure, double>> RunAsync(BenchmarkOptions options, HostBuild hosts, int round, TextWriter progress,
        CancellationToken cancellationToken, int runs = Runs)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        progress.WriteLine($"crash round {round}: starting the fleet (orchestrator + {WorkerCount} workers × {Slots} slots)");
        await using var fleet = await BenchFleet.StartAsync(hosts, WorkerCount, Slots, cancellationToken);
        fleet.KeepDirectory = options.KeepLogs;
        try
        {
            await using var database = await RunDatabase.OpenAsync(fleet.Database, cancellationToken);
            var bus = await Fault.StartBusAndWarmUpAsync(fleet, database, cancellationToken);
            try
            {
                var ids = Enumerable.Range(0, runs).Select(_ => NewId.NextGuid()).ToArray();
                var firstSubmit = DateTimeOffset.UtcNow;
                await Fault.SubmitAsync(bus, ids, BenchFleet.CountAgent, cancellationToken);
                var wait = firstSubmit + KillAfter - DateTimeOffset.UtcNow;
                if (wait > TimeSpan.Zero)
                    await Task.Delay(wait, cancellationToken);

                var doomed = fleet.Workers[0];
                var inFlight = await database.RunningOnAsync("bench-worker-1", cancellationToken);
                var killedAt = DateTimeOffset.UtcNow;
                doomed.Kill();
                await doomed.WaitForExitAsync(TimeSpan.FromSeconds(30), cancellationToken);
                progress.WriteLine($"crash round {round}: killed bench-worker-1 (pid {doomed.Pid}) {(killedAt - firstSubmit).TotalSeconds:0.00} s after the first submit, " +
                    $"{inFlight.Count} of its runs Running");

                // Meanwhile, when the saga gives up each lost lease: the run's attempt goes up (or it leaves Running).
                var requeued = new Dictionary<Guid, DateTimeOffset>();
                await Fault.WaitAsync(async () =>
                {
                    if (requeued.Count < inFlight.Count)
                    {
                        var now = DateTimeOffset.UtcNow;
                        foreach (var (id, attempt, state) in await database.AttemptsAsync(inFlight, cancellationToken))
                        {
                            if ((attempt > 1 || state != "Running") && !requeued.ContainsKey(id))
                                requeued[id] = now;
                        }
                    }
                    return await database.TerminalCountAsync(ids, cancellationToken) == ids.Length;
                }, fleet, doomed, TimeSpan.FromSeconds(options.RoundTimeoutSeconds), "every run terminal", cancellationToken);
                var lastFinish = DateTimeOffset.UtcNow;
                var rows = await database.RowsAsync(ids, cancellationToken);
                var figures = Figures(rows, inFlight, ReadExecutions(fleet.ExecutionLog), killedAt, firstSubmit, ids.Length);
                figures[CrashFigures.KillToRequeue] = requeued.Count < inFlight.Count || inFlight.Count == 0
                    ? double.NaN
                    : (requeued.Values.Max() - killedAt).TotalSeconds;
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"crash round {round}: kill → restart {figures[CrashFigures.KillToRestart]:0.00} s, lost {figures[CrashFigures.Lost]}, " +
                    $"overlapping {figures[CrashFigures.Overlapping]}, completed twice {figures[CrashFigures.CompletedTwice]} (all terminal after {(lastFinish - firstSubmit).TotalSeconds:0.0} s)"));
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
            progress.WriteLine($"crash round {round} failed; process logs kept in {fleet.Directory}");
            throw;
        }
    }

    /// <summary>One execution of the count agent: its start, and its end if it ran to it.</summary>
    sealed record Execution(Guid RunId, int Attempt, long StartNs, long? EndNs, int Pid);

    static List<Execution> ReadExecutions(string path)
    {
        var inv = CultureInfo.InvariantCulture;
        var executions = new Dictionary<(Guid, int, long, int), Execution>();
        if (!File.Exists(path))
            return [];
        foreach (var line in File.ReadAllLines(path))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 5 && parts[0] == "start")
            {
                var e = new Execution(Guid.Parse(parts[1]), int.Parse(parts[2], inv), long.Parse(parts[3], inv), null, int.Parse(parts[4], inv));
                executions.TryAdd((e.RunId, e.Attempt, e.StartNs, e.Pid), e);
            }
            else if (parts.Length == 6 && parts[0] == "end")
            {
                var e = new Execution(Guid.Parse(parts[1]), int.Parse(parts[2], inv), long.Parse(parts[3], inv), long.Parse(parts[4], inv), int.Parse(parts[5], inv));
                executions[(e.RunId, e.Attempt, e.StartNs, e.Pid)] = e;
            }
        }
        return [.. executions.Values];
    }

    static Dictionary<Figure, double> Figures(List<RunRow> rows, List<Guid> inFlight, List<Execution> executions, DateTimeOffset killedAt,
        DateTimeOffset firstSubmit, int expected)
    {
        var killNs = Fault.UnixNs(killedAt);
        var byRun = executions.GroupBy(e => e.RunId).ToDictionary(g => g.Key, g => g.OrderBy(e => e.StartNs).ToList());

        // Every run is on its first attempt at the kill (no lease can lapse in the round's first 2 s), so the killed worker's
        // executions of its runs are attempt 1. An agent it spawned just before the kill may log its start just after it.
        var killed = inFlight.ToHashSet();

        // Kill → restart: for each run the killed worker had Running, the first execution of a later attempt.
        var restarts = inFlight
            .Select(id => byRun.GetValueOrDefault(id, []).Where(e => e.Attempt > 1).Select(e => (double?)e.StartNs).Min())
            .ToList();

        // Two executions of a run at once: intervals that overlap. An execution that never logged its end was cut short:
        // by the kill, if the killed worker ran it or it started before the kill (then it ended at the kill, or at its own
        // start if it logged that a moment later); otherwise it is open-ended.
        var overlapping = 0;
        foreach (var (runId, list) in byRun)
        {
            var spans = list.Select(e => (e.StartNs, End: e.EndNs ?? (e.StartNs < killNs ? killNs
                : killed.Contains(runId) && e.Attempt == 1 ? e.StartNs : long.MaxValue))).ToList();
            var overlap = false;
            for (var i = 0; i < spans.Count && !overlap; i++)
                for (var j = i + 1; j < spans.Count && !overlap; j++)
                    overlap = spans[j].StartNs < spans[i].End && spans[i].StartNs < spans[j].End;
            if (overlap)
                overlapping++;
        }

        var lastFinish = rows.Max(r => r.FinishedAt ?? r.SubmittedAt);
        return new Dictionary<Figure, double>
        {
            [CrashFigures.InFlight] = inFlight.Count,
            [CrashFigures.KillToRestart] = restarts.Count == 0 || restarts.Any(r => r is null) ? double.NaN : (restarts.Max()!.Value - killNs) / 1e9,
            [CrashFigures.FirstRestart] = restarts.Count == 0 || restarts.All(r => r is null) ? double.NaN : (restarts.Min()!.Value - killNs) / 1e9,
            [CrashFigures.NotRestarted] = restarts.Count(r => r is null),
            [CrashFigures.Lost] = rows.Count(r => r.State != "Succeeded") + (expected - rows.Count),
            [CrashFigures.Overlapping] = overlapping,
            [CrashFigures.CompletedTwice] = byRun.Values.Count(l => l.Count(e => e.EndNs is not null) > 1),
            [CrashFigures.CutShort] = executions.Count(e => e.EndNs is null),
            [CrashFigures.Retried] = rows.Count(r => r.Attempt > 1),
            [CrashFigures.Duration] = (lastFinish - firstSubmit).TotalSeconds,
        };
    }
}

/// <summary>The crash workload's figures, in report order.</summary>
public static class CrashFigures
{
    public static readonly Figure InFlight = new("crash_in_flight", "runs Running on the killed worker at the kill", 0,
        "`current_state = 'Running' AND worker_id = 'bench-worker-1'` in the saga table right before the kill.");
    public static readonly Figure KillToRestart = new("crash_kill_to_restart_s", "**kill → last in-flight run restarted, s**", 2,
        "For each of those runs, the start of its next attempt's first execution, from the agent's execution log (`date +%s%N` at agent start); " +
        "the latest of them minus the moment of the kill. (The saga's `started_at` keeps the first attempt's start, so the table cannot give this.) " +
        "At least the lease less the time since the last heartbeat, plus the wait for a free slot.");
    public static readonly Figure KillToRequeue = new("crash_kill_to_requeue_s", "kill → last in-flight run's lease given up (attempt 2), s", 2,
        "The saga table polled every ~100 ms: when each of those runs' `attempt` went up (or it left Running); the latest minus the kill. " +
        "The rest of kill → restart is the retry waiting for a slot: the survivor's 10 slots are busy with the queued runs.");
    public static readonly Figure FirstRestart = new("crash_first_restart_s", "kill → first in-flight run restarted, s", 2, "As above, the earliest.");
    public static readonly Figure NotRestarted = new("crash_not_restarted", "in-flight runs with no execution after the kill", 0,
        "Runs with no execution of a later attempt. Should be 0.");
    public static readonly Figure Lost = new("crash_lost", "**runs lost** (not Succeeded at the end)", 0, "Of the submitted runs, those whose final state is not Succeeded.");
    public static readonly Figure Overlapping = new("crash_overlapping", "**runs executed twice at once**", 0,
        "Runs with two executions in the agent log whose intervals overlap (an execution cut short by the kill counts as ending at the kill; " +
        "one of the killed worker's that logged its start a moment after the kill, at its start).");
    public static readonly Figure CompletedTwice = new("crash_completed_twice", "**runs that ran to their end twice**", 0,
        "Runs with more than one `end` line in the agent log.");
    public static readonly Figure CutShort = new("crash_cut_short", "executions cut short (start logged, no end)", 0,
        "Normally exactly the runs in flight on the killed worker.");
    public static readonly Figure Retried = new("crash_retried", "runs with more than one attempt", 0, "`attempt > 1` in the saga table.");
    public static readonly Figure Duration = new("crash_duration_s", "first submit → last finish, s", 1,
        "Without the kill: 100 × 5 s on 20 slots ≈ 25 s.");

    public static readonly IReadOnlyList<Figure> All =
        [KillToRestart, KillToRequeue, FirstRestart, InFlight, NotRestarted, Lost, Overlapping, CompletedTwice, CutShort, Retried, Duration, Figures.LoadBefore];
}
