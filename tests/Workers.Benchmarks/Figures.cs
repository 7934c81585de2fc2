namespace Workers.Benchmarks;

/// <summary>One reported figure: its key, how it is shown, and what it means (the report's glossary comes from here).</summary>
public sealed record Figure(string Key, string Label, int Decimals, string Meaning);

/// <summary>Every figure a round can produce, in report order.</summary>
public static class Figures
{
    public static readonly Figure RunsPerSecond = new("runs_per_s", "**runs/s** (first publish → last finish)", 0,
        "N / (wall time of the first SubmitRun publish → the latest `finished_at`). The headline throughput.");
    public static readonly Figure PublishPerSecond = new("publish_per_s", "SubmitRun publish rate, msg/s", 0,
        "N / (first publish → the last publish's broker confirm), MassTransit `Publish` with 64 awaiting their confirm.");
    public static readonly Figure DispatchP50 = new("dispatch_p50_ms", "dispatch latency p50, ms", 1,
        "`started_at − submitted_at` per run: from the saga accepting the submission to the lease being granted (execution start). Includes any backlog.");
    public static readonly Figure DispatchP99 = new("dispatch_p99_ms", "dispatch latency p99, ms", 1, "As above, 99th percentile.");
    public static readonly Figure FinishP50 = new("finish_p50_ms", "submit → finish p50, ms", 1, "`finished_at − submitted_at` per run.");
    public static readonly Figure FinishP99 = new("finish_p99_ms", "submit → finish p99, ms", 1, "As above, 99th percentile.");
    public static readonly Figure IntakeP50 = new("intake_p50_ms", "publish → accepted p50, ms", 1,
        "`submitted_at` − the moment the benchmark started publishing that run: time the submission waited in the broker before the saga took it.");
    public static readonly Figure IntakeP99 = new("intake_p99_ms", "publish → accepted p99, ms", 1, "As above, 99th percentile.");
    public static readonly Figure Duration = new("duration_s", "first publish → last finish, s", 1, "The time the runs/s figure divides by.");
    public static readonly Figure NotSucceeded = new("not_succeeded", "runs not Succeeded", 0,
        "Runs whose final state is Failed, Cancelled or Rejected (the noop agent always succeeds, so this should be 0).");
    public static readonly Figure Redispatched = new("redispatched", "runs dispatched more than once", 0,
        "`dispatch_count > 1`: the re-dispatch timer fired (a dispatch was not claimed in time) or a submission was redelivered.");
    public static readonly Figure Retried = new("retried", "runs with more than one attempt", 0, "`attempt > 1`.");
    public static readonly Figure PublishesPerRun = new("publishes_per_run", "broker publishes per run", 2,
        "Messages published into the round's vhost (management API `message_stats.publish`, including the SubmitRun itself, claims and their replies, heartbeats), divided by N.");
    public static readonly Figure DeliveriesPerRun = new("deliveries_per_run", "broker deliveries per run", 2, "`message_stats.deliver_get` / N.");
    public static readonly Figure Redeliveries = new("redelivered", "broker redeliveries", 0, "`message_stats.redeliver`: deliveries of messages that had been delivered before (nacks, closed channels).");
    public static readonly Figure Unroutable = new("dropped_unroutable", "unroutable messages dropped", 0,
        "`message_stats.drop_unroutable`: published to an exchange with no queue bound. Should be 0.");
    public static readonly Figure CommitsPerRun = new("commits_per_run", "DB commits per run", 2,
        "`pg_stat_database.xact_commit` of the round's database from the end of the warm-up (read after the fleet idled for 6 s) until " +
        "the fleet has stopped and every session has ended (PostgreSQL counts a session's last transactions only then), less the " +
        "benchmark's own queries, divided by N. Every autocommit statement is a transaction, a SELECT too, and so is Npgsql's `DISCARD ALL` " +
        "when a pooled connection is reused. Includes the idle fleet's background (timer sweeper, heartbeats) for the length of the round.");
    public static readonly Figure RollbacksPerRun = new("rollbacks_per_run", "DB rollbacks per run", 3, "`xact_rollback`, likewise (no own queries to take out).");
    public static readonly Figure SagaBacklog = new("saga_backlog_max", "max backlog in `run-state` (saga queue)", 0,
        "Largest ready-message count of the saga's queue seen while polling (about once a second; passive declare, exact).");
    public static readonly Figure DispatchBacklog = new("dispatch_backlog_max", "max backlog in `runs-process` (dispatch queue)", 0,
        "Likewise for the process runtime's dispatch queue.");
    public static readonly Figure CpuPerRun = new("cpu_ms_per_run", "CPU per run, ms (whole machine)", 2,
        "Busy CPU time of the whole machine between the first publish and the moment every run was seen terminal, divided by N.");
    public static readonly Figure LoadBefore = new("load_before", "machine busy just before the round (cores)", 2,
        "A 2 s sample right before the fleet started: load from outside the benchmark (the benchmark waits for it to drop below `--quiet-below`).");
    public static readonly Figure Disturbed = new("disturbed", "measurements disturbed by other load (kept after retries)", 0,
        "Per round, the fleet measurement and each floor whose window had more than `--quiet-below` cores used by processes outside the benchmark, after `--retries` repeats.");
    public static readonly Figure FailedAttempts = new("failed_attempts", "round attempts that failed and were repeated", 0,
        "A round that fails (e.g. the broker restarted under it: someone else's test on a shared machine) is repeated within `--retries`; this counts them.");
    public static readonly Figure CpuOrchestrator = new("cpu_orchestrator", "CPU, orchestrator (cores)", 2,
        "CPU seconds used between the first publish and the moment every run was seen terminal, divided by that wall time (so 2.00 = both cores). From /proc/<pid>/stat.");
    public static readonly Figure CpuWorkers = new("cpu_workers", "CPU, worker processes (cores)", 2, "All worker processes, without their agent children.");
    public static readonly Figure CpuAgents = new("cpu_agents", "CPU, agent processes (cores)", 2,
        "Everything the workers started per run (their reaped children's time): `/bin/echo`, spawned as the leader of its own session.");
    public static readonly Figure CpuBroker = new("cpu_broker", "CPU, RabbitMQ (cores)", 2, "beam.smp and its helpers.");
    public static readonly Figure CpuPostgres = new("cpu_postgres", "CPU, PostgreSQL (cores)", 2, "Every postgres process, including backends that exited.");
    public static readonly Figure CpuBench = new("cpu_bench", "CPU, benchmark process (cores)", 2, "The producer bus and the progress polls.");
    public static readonly Figure CpuOther = new("cpu_other", "CPU, everything else (cores)", 2, "Machine busy time not in the rows above (kernel threads, other processes).");
    public static readonly Figure CpuMachine = new("cpu_machine", "CPU, whole machine busy (cores)", 2, "Elapsed time × cores, less idle and iowait from /proc/stat (exact, where the busy columns are sampled at the tick and miss short bursts).");
    public static readonly Figure FloorPhysical = new("floor_physical_runs_per_s", "floor: raw RabbitMQ.Client round trip, runs/s", 0,
        "`Physical roundtrip --n 50000 --prefetch 32` (shared/peers): `end_to_end_msgs_per_s`, two confirmed persistent messages per run, no framework, no database.");
    public static readonly Figure FloorMassTransit = new("floor_mt_runs_per_s", "floor: MassTransit round trip, runs/s", 0,
        "`MtFloor roundtrip --n 20000 --prefetch 32` (shared/peers): `end_to_end_per_s`, a MassTransit consumer publishing one completion per request, no database.");
    public static readonly Figure FloorAgent = new("floor_agent_runs_per_s", "floor: the noop agent alone, runs/s", 0,
        "`workers-bench agent-floor` (`AgentFloor`): W1's noop agent through the process runtime (`/bin/echo` spawned in a session of its own, pipes, result line), " +
        "as many at once as the fleet has slots, no broker, database or worker. What a process per run costs by itself.");

    /// <summary>Report order.</summary>
    public static readonly IReadOnlyList<Figure> All =
    [
        RunsPerSecond, PublishPerSecond, DispatchP50, DispatchP99, FinishP50, FinishP99, IntakeP50, IntakeP99, Duration,
        NotSucceeded, Redispatched, Retried,
        PublishesPerRun, DeliveriesPerRun, Redeliveries, Unroutable, CommitsPerRun, RollbacksPerRun, SagaBacklog, DispatchBacklog,
        CpuPerRun, CpuOrchestrator, CpuWorkers, CpuAgents, CpuBroker, CpuPostgres, CpuBench, CpuOther, CpuMachine, LoadBefore, Disturbed, FailedAttempts,
        FloorPhysical, FloorMassTransit, FloorAgent,
    ];
}
