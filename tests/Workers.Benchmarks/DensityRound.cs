using System.Diagnostics;
using System.Globalization;

using MassTransit;

using Workers.Testing;

namespace Workers.Benchmarks;

/// <summary>
/// W5, density: <c>--density-runs</c> (1,000) runs of the <c>idle</c> agent (<c>sleep</c>) all Running at once on one worker with as
/// many slots. Measures the worker's resident memory (and its agents') against the idle worker, and whether its heartbeats
/// kept their 2 s beat while it held them, from the orchestrator's side (<c>workers.last_seen_at</c>) and from its own log.
/// </summary>
public static class DensityRound
{
    /// <summary>The worker's heartbeat interval (<c>Workers:Worker:HeartbeatInterval</c>, default).</summary>
    public static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(2);

    /// <summary>How long the round keeps every run Running after the last one started, watching.</summary>
    public static readonly TimeSpan Hold = TimeSpan.FromSeconds(20);

    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);
    const int TreeEvery = 5;
    const string WorkerId = "bench-worker-1";

    public static string Title =>
        $"W5, density: 1 worker whose slots equal the runs (default 1,000), all runs of the `idle` agent (`sleep {BenchFleet.IdleSeconds}`) " +
        $"Running at once; the round watches for {Hold.TotalSeconds:0} s after the last one started, then stops the fleet (which kills the agents). " +
        $"The registry row is polled every {Poll.TotalMilliseconds:0} ms, the worker's RSS likewise, its process tree every {TreeEvery * Poll.TotalMilliseconds:0} ms.";

    public static Task<Dictionary<Figure, double>> RunAsync(BenchmarkOptions options, HostBuild hosts, int round, TextWriter progress,
        CancellationToken cancellationToken) => RunAsync(options, hosts, round, progress, "density", BenchFleet.IdleAgent, cancellationToken);

    /// <summary>The same round with another agent (the native density workload runs the built-in loop against a slow fake model).</summary>
    public static async Task<Dictionary<Figure, double>> RunAsync(BenchmarkOptions options, HostBuild hosts, int round, TextWriter progress,
        string workload, string agent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        var n = options.DensityRuns;
        return await Fault.InFleetAsync(options, hosts, workload, round, 1, n, progress, async (fleet, database, bus) =>
        {
            var worker = fleet.Workers[0];
            HashSet<int> agents = [];
            try
            {
                // Idle: the warm-up run is done; give the worker a moment to settle (GC, JIT'd paths) and take the lowest of a few samples.
                long idle = long.MaxValue;
                for (var i = 0; i < 10; i++)
                {
                    idle = Math.Min(idle, ProcessMemory.Rss(worker.Pid));
                    await Task.Delay(Poll, cancellationToken);
                }

                var ids = Enumerable.Range(0, n).Select(_ => NewId.NextGuid()).ToArray();
                var watch = new Watch();
                await watch.SampleAsync(database, worker.Pid, agents, tree: true, cancellationToken);
                var clock = Stopwatch.StartNew();
                var submitting = Fault.SubmitAsync(bus, ids, agent, cancellationToken);
                progress.WriteLine($"{workload} round {round}: submitting {n:N0} {agent} runs; worker idle RSS {idle / 1048576.0:0.0} MiB");
                TimeSpan? allRunning = null;
                var lastProgress = TimeSpan.Zero;
                for (var tick = 1; allRunning is null || clock.Elapsed < allRunning + Hold; tick++)
                {
                    await Task.Delay(Poll, cancellationToken);
                    fleet.ThrowIfAnyExited();
                    if (submitting.IsFaulted)
                        await submitting;
                    await watch.SampleAsync(database, worker.Pid, agents, tree: tick % TreeEvery == 0, cancellationToken);
                    if (allRunning is null && tick % TreeEvery == 0 && await database.CountInStateAsync(ids, "Running", cancellationToken) == n)
                    {
                        allRunning = clock.Elapsed;
                        progress.WriteLine($"{workload} round {round}: all {n:N0} Running after {allRunning.Value.TotalSeconds:0.0} s; watching {Hold.TotalSeconds:0} s more");
                    }
                    if (clock.Elapsed - lastProgress >= TimeSpan.FromSeconds(5))
                    {
                        lastProgress = clock.Elapsed;
                        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"{workload} round {round}: {clock.Elapsed.TotalSeconds,4:0} s  active (registry) {watch.ActiveRuns}  agents {watch.Agents}  " +
                            $"worker RSS {watch.PeakWorker / 1048576.0:0} MiB  max heartbeat gap {watch.MaxGap.TotalSeconds:0.00} s"));
                    }
                    if (clock.Elapsed > TimeSpan.FromSeconds(options.RoundTimeoutSeconds))
                        throw new TimeoutException($"not all {n} runs Running after {options.RoundTimeoutSeconds} s (--round-timeout)");
                }
                await submitting;
                var runningAtEnd = await database.CountInStateAsync(ids, "Running", cancellationToken);
                var agentsAtEnd = ProcessMemory.Descendants(worker.Pid).Count;
                var unanswered = fleet.LogText(worker).Split('\n').Count(l => l.Contains("got no answer in time", StringComparison.Ordinal) && l.Contains("Heartbeat", StringComparison.Ordinal));

                var figures = new Dictionary<Figure, double>
                {
                    [DensityFigures.Runs] = n,
                    [DensityFigures.AllRunning] = allRunning!.Value.TotalSeconds,
                    [DensityFigures.IdleRss] = idle / 1048576.0,
                    [DensityFigures.PeakRss] = watch.PeakWorker / 1048576.0,
                    [DensityFigures.PerRun] = (watch.PeakWorker - idle) / 1024.0 / n,
                    [DensityFigures.AgentsRss] = watch.PeakAgents / 1048576.0,
                    [DensityFigures.AgentsPerRun] = watch.PeakAgents / 1024.0 / n,
                    [DensityFigures.AgentsPss] = watch.PeakAgentsPss / 1048576.0,
                    [DensityFigures.AgentsPssPerRun] = watch.PeakAgentsPss / 1024.0 / n,
                    [DensityFigures.PeakAgents] = watch.PeakAgentCount,
                    [DensityFigures.AgentsAtEnd] = agentsAtEnd,
                    [DensityFigures.RunningAtEnd] = runningAtEnd,
                    [DensityFigures.MaxGap] = watch.MaxGap.TotalSeconds,
                    [DensityFigures.LateGaps] = watch.Gaps.Count(g => g > 2 * Heartbeat),
                    [DensityFigures.Unanswered] = unanswered,
                };
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{workload} round {round}: worker RSS idle {figures[DensityFigures.IdleRss]:0.0} MiB, peak {figures[DensityFigures.PeakRss]:0.0} MiB " +
                    $"({figures[DensityFigures.PerRun]:0.0} KiB per run); agents RSS {figures[DensityFigures.AgentsRss]:0.0} MiB, PSS {figures[DensityFigures.AgentsPss]:0.0} MiB; " +
                    $"max heartbeat gap {figures[DensityFigures.MaxGap]:0.00} s, {figures[DensityFigures.LateGaps]} > {2 * Heartbeat.TotalSeconds:0} s, {unanswered} unanswered"));
                return figures;
            }
            finally
            {
                await KillAgentsAsync(worker.Pid, agents);
                await fleet.StopProcessesAsync(CancellationToken.None);
            }
        }, cancellationToken);
    }

    /// <summary>
    /// SIGKILLs the worker and every agent below it in one <c>kill</c>: a tree kill through <see cref="System.Diagnostics.Process"/>
    /// walks /proc once per process and takes minutes for a thousand. Pids seen earlier are included, as they may have been
    /// reparented already; a pid reused meanwhile by an unrelated process is the accepted risk of a benchmark on its own machine.
    /// </summary>
    static async Task KillAgentsAsync(int workerPid, HashSet<int> seen)
    {
        var pids = ProcessMemory.Descendants(workerPid).Concat(seen.Where(p => !Fault.IsGone(p))).Prepend(workerPid).Distinct()
            .Select(p => p.ToString(CultureInfo.InvariantCulture)).ToList();
        await using var kill = ManagedProcess.Start("kill", ["-KILL", .. pids], new ManagedProcessOptions { Name = "kill" });
        await kill.WaitForExitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
    }

    /// <summary>What the round has seen so far.</summary>
    sealed class Watch
    {
        DateTimeOffset? lastSeen;

        public List<double> GapSeconds { get; } = [];

        public IEnumerable<TimeSpan> Gaps => GapSeconds.Select(TimeSpan.FromSeconds);

        public TimeSpan MaxGap => GapSeconds.Count > 0 ? TimeSpan.FromSeconds(GapSeconds.Max()) : TimeSpan.Zero;

        public int ActiveRuns { get; private set; }

        public int Agents { get; private set; }

        public long PeakWorker { get; private set; }

        public long PeakAgents { get; private set; }

        public long PeakAgentsPss { get; private set; }

        public int PeakAgentCount { get; private set; }

        public async Task SampleAsync(RunDatabase database, int workerPid, HashSet<int> agents, bool tree, CancellationToken cancellationToken)
        {
            // The orchestrator writes its own clock into last_seen_at each time it handles a heartbeat: consecutive values are the beat.
            if (await database.WorkerSeenAsync(WorkerId, cancellationToken) is { } seen)
            {
                if (lastSeen is { } previous && seen.LastSeenAt > previous)
                    GapSeconds.Add((seen.LastSeenAt - previous).TotalSeconds);
                if (lastSeen is null || seen.LastSeenAt > lastSeen)
                    lastSeen = seen.LastSeenAt;
                ActiveRuns = seen.ActiveRuns;
            }
            PeakWorker = Math.Max(PeakWorker, ProcessMemory.Rss(workerPid));
            if (!tree)
                return;
            var below = ProcessMemory.Descendants(workerPid);
            agents.UnionWith(below);
            Agents = below.Count;
            PeakAgentCount = Math.Max(PeakAgentCount, below.Count);
            PeakAgents = Math.Max(PeakAgents, below.Sum(ProcessMemory.Rss));
            PeakAgentsPss = Math.Max(PeakAgentsPss, below.Sum(ProcessMemory.Pss));
        }
    }
}

/// <summary>The density workload's figures, in report order.</summary>
public static class DensityFigures
{
    public static readonly Figure Runs = new("w5_runs", "runs Running at once on the worker", 0, "`--density-runs`; the worker's slots are the same number.");
    public static readonly Figure AllRunning = new("w5_all_running_s", "first submit → all Running, s", 1,
        "Until the saga table shows every run Running (checked once a second).");
    public static readonly Figure IdleRss = new("w5_idle_rss_mib", "worker RSS idle, MiB", 1,
        "`VmRSS` of the worker process after the warm-up run, the lowest of 10 samples over 2 s.");
    public static readonly Figure PeakRss = new("w5_peak_rss_mib", "**worker RSS peak, MiB**", 1, "The highest `VmRSS` of the worker process seen during the round.");
    public static readonly Figure PerRun = new("w5_per_run_kib", "**worker memory per run, KiB**", 1, "(peak − idle) / runs.");
    public static readonly Figure AgentsRss = new("w5_agents_rss_mib", "agent processes' RSS (sum at peak), MiB", 1,
        "Sum of `VmRSS` over every process below the worker (the agents and whatever the process runtime keeps per run), the highest sum seen. " +
        "Shared pages (libc, the `sleep` binary) are counted once per process, so this overstates the real cost.");
    public static readonly Figure AgentsPerRun = new("w5_agents_per_run_kib", "agent processes' RSS per run, KiB", 1, "The sum above / runs.");
    public static readonly Figure AgentsPss = new("w5_agents_pss_mib", "**agent processes' PSS (sum at peak), MiB**", 1,
        "As above with `Pss` from /proc/<pid>/smaps_rollup: each shared page divided among the processes that map it, so the sum is what they really cost.");
    public static readonly Figure AgentsPssPerRun = new("w5_agents_pss_per_run_kib", "**agent processes' PSS per run, KiB**", 1, "The PSS sum / runs.");
    public static readonly Figure PeakAgents = new("w5_processes", "processes below the worker (peak)", 0, "How many processes per run the process runtime leaves alive while the agent runs, × runs.");
    public static readonly Figure AgentsAtEnd = new("w5_processes_end", "processes below the worker at the end", 0, "Counted once more just before the fleet is stopped.");
    public static readonly Figure RunningAtEnd = new("w5_running_end", "runs still Running at the end", 0,
        "In the saga table just before the fleet is stopped. Should equal the runs: an idle run has nothing to end it.");
    public static readonly Figure MaxGap = new("w5_max_heartbeat_gap_s", "**largest gap between heartbeats, s**", 2,
        $"Largest difference between consecutive values of the worker's `workers.last_seen_at` (the orchestrator's clock when it handled a heartbeat; " +
        $"the worker sends one every {DensityRound.Heartbeat.TotalSeconds:0} s), from just before the first submit to the end of the round.");
    public static readonly Figure LateGaps = new("w5_late_heartbeats", "**gaps > 2 × heartbeat interval**", 0, "Late heartbeats as the orchestrator saw them. Should be 0.");
    public static readonly Figure Unanswered = new("w5_unanswered_heartbeats", "\"Heartbeat … got no answer in time\" warnings", 0,
        "Lines of the worker's own log for heartbeats whose request timed out. Should be 0.");

    public static readonly IReadOnlyList<Figure> All =
        [Runs, AllRunning, IdleRss, PeakRss, PerRun, AgentsRss, AgentsPerRun, AgentsPss, AgentsPssPerRun, PeakAgents, AgentsAtEnd, RunningAtEnd, MaxGap, LateGaps, Unanswered, Figures.LoadBefore];
}
