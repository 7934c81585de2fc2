using System.ComponentModel.DataAnnotations;

namespace Workers.Worker;

/// <summary>Settings of a worker. Section <c>Workers:Worker</c>.</summary>
public sealed class WorkerOptions
{
    public const string SectionName = "Workers:Worker";

    /// <summary>This worker's id in the registry and on leases. Default: host name, process id and a short random suffix.</summary>
    public string? WorkerId { get; set; }

    /// <summary>Runs executed at once (bounded concurrency). Default: 4 per processor core.</summary>
    [Range(1, 10_000)]
    public int Slots { get; set; } = Environment.ProcessorCount * 4;

    /// <summary>Runtimes to offer. Empty: every runtime whose prerequisites hold on this machine.</summary>
    public IList<string> Runtimes { get; } = [];

    /// <summary>How often the worker renews its leases (one message for all of them).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a received dispatch may wait for a free slot before it is put back on its queue. Bounds how long a
    /// delivery stays unacknowledged (RabbitMQ closes channels holding one longer than its consumer timeout).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:20:00")]
    public TimeSpan SlotWaitTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long to wait for the orchestrator to answer a claim before giving the dispatch up.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan ClaimTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Where attempts' workspace directories are made (a directory per worker process, emptied ones reused). Default: <c>$TMPDIR/workers/workspaces</c>.</summary>
    public string? WorkspaceRoot { get; set; }

    /// <summary>
    /// Keep each run's workspace after it ends (for debugging); by default it is emptied once its artifacts are recorded
    /// and reused for a later attempt.
    /// A kept workspace with a repository has every change staged (<c>git add -A</c>, used to record the diff).
    /// </summary>
    public bool KeepWorkspaces { get; set; }

    /// <summary>How long cloning a run's repository may take (and, separately, recording its artifacts) before it is stopped.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan WorkspaceCloneTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// While its queues are quiet, offer half of the free slots to the orchestrator, which then hands new runs straight to
    /// this worker, leased as it accepts them, instead of sending them through the queue to be claimed
    /// (<see cref="Intake.SlotOfferer"/>). On by default; off, every run comes through the queue.
    /// </summary>
    public bool OfferIdleSlots { get; set; } = true;

    /// <summary>
    /// How long the worker's mailbox may stay down while its other queues consume (the broker is reachable) before the
    /// worker stops itself with exit code 75, for its supervisor to start it again with a fresh connection
    /// (<see cref="Intake.MailboxWatch"/>). Without a mailbox the worker can take no run and renew no lease. Time while
    /// the broker is out of reach does not count. Zero: never stop.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan MailboxDownLimit { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>On shutdown, how long in-flight runs may take to finish before they are stopped.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan ShutdownGracePeriod { get; set; } = TimeSpan.FromSeconds(10);
}
