using MassTransit;

namespace Workers.Runs.StateMachine;

/// <summary>
/// One row of the saga-state table: everything operators query about a run. <see cref="CurrentState"/> is
/// stored as a string so that adding states never renumbers existing rows.
/// </summary>
public sealed class RunState : SagaStateMachineInstance, ISagaVersion
{
    /// <summary>The run id (client-chosen idempotency key).</summary>
    public Guid CorrelationId { get; set; }

    public string CurrentState { get; set; } = "";

    /// <summary>Optimistic concurrency: bumped by every write; a stale write fails and is retried.</summary>
    public int Version { get; set; }

    public string Agent { get; set; } = "";
    public string Runtime { get; set; } = "";
    public int Priority { get; set; }
    public string Input { get; set; } = "";
    public string? Tenant { get; set; }

    /// <summary>Labels as a JSON object.</summary>
    public string? LabelsJson { get; set; }

    /// <summary>The resolved <c>AgentSpec</c> (JSON) dispatched with every attempt.</summary>
    public string? AgentSpecJson { get; set; }

    /// <summary>The current attempt, 1-based; 0 before the first dispatch (rejected runs).</summary>
    public int Attempt { get; set; }
    public int MaxAttempts { get; set; }

    /// <summary>Attempts a draining worker handed back unfinished; they do not count against <see cref="MaxAttempts"/>.</summary>
    public int ReleasedAttempts { get; set; }

    /// <summary>How many times the current attempt was dispatched (re-dispatches recover lost messages).</summary>
    public int DispatchCount { get; set; }
    public DateTimeOffset? RedispatchAt { get; set; }

    public string? WorkerId { get; set; }

    /// <summary>Where <c>StopRun</c> goes for the current lease.</summary>
    public string? WorkerAddress { get; set; }

    /// <summary>Fencing token of the current attempt's lease; events carrying another one are ignored.</summary>
    public Guid? LeaseId { get; set; }
    public DateTimeOffset? LeaseExpiresAt { get; set; }

    /// <summary>The claim request that won the lease, so a redelivered claim gets the same answer.</summary>
    public Guid? ClaimId { get; set; }

    public DateTimeOffset SubmittedAt { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    public DateTimeOffset? NextAttemptAt { get; set; }
    public DateTimeOffset? CancelRequestedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>The final result text.</summary>
    public string? Output { get; set; }

    /// <summary>Why the run (or its last attempt) failed, was rejected or cancelled.</summary>
    public string? LastError { get; set; }
    public string? ErrorKind { get; set; }

    /// <summary>The <c>RunArtifacts</c> (JSON) of the last attempt whose result was accepted; null until one reports them.</summary>
    public string? ArtifactsJson { get; set; }

    public int Steps { get; set; }
    public int ToolCalls { get; set; }
    public long InputTokens { get; set; }
    public long OutputTokens { get; set; }
    public decimal CostUsd { get; set; }

    /// <summary>Backoff before the second attempt (null on rows older than the setting: the fleet default).</summary>
    public TimeSpan? RetryInitialDelay { get; set; }
    public TimeSpan? RetryMaxDelay { get; set; }

    /// <summary>Failure kinds that end the run at once, comma-separated.</summary>
    public string? NonRetryableErrors { get; set; }

    public TimeSpan? ScheduleToStartTimeout { get; set; }
    public TimeSpan? StartToCloseTimeout { get; set; }
    public TimeSpan? ScheduleToCloseTimeout { get; set; }
    public TimeSpan? StallTimeout { get; set; }
    public bool RetryOnStall { get; set; }

    /// <summary>When the current attempt entered the queue; schedule-to-start runs from here.</summary>
    public DateTimeOffset? QueuedAt { get; set; }

    /// <summary>When the current attempt's lease was granted; start-to-close runs from here.</summary>
    public DateTimeOffset? AttemptStartedAt { get; set; }

    /// <summary>Agent events seen in the current attempt (from heartbeats).</summary>
    public long Progress { get; set; }

    /// <summary>When the current attempt counts as stalled unless <see cref="Progress"/> grows; lease renewals push it.</summary>
    public DateTimeOffset? StallDeadlineAt { get; set; }

    /// <summary>The earliest timeout of the current state, stall aside (it moves with progress).</summary>
    public DateTimeOffset? DeadlineAt => CurrentState switch
    {
        RunStates.Queued => Earliest(QueuedAt + ScheduleToStartTimeout, RunDeadline),
        RunStates.Running => Earliest(AttemptStartedAt + StartToCloseTimeout, RunDeadline),
        RunStates.RetryScheduled => RunDeadline,
        _ => null,
    };

    /// <summary>When the whole run times out (schedule-to-close), if it has such a limit.</summary>
    public DateTimeOffset? RunDeadline => SubmittedAt + ScheduleToCloseTimeout;

    /// <summary>
    /// When the timer sweeper must look at this run next, derived from the state: a queued run's re-dispatch,
    /// a running run's lease expiry, a retry's backoff, and whichever timeout comes first. Null in final states.
    /// </summary>
    public DateTimeOffset? DueAt => CurrentState switch
    {
        RunStates.Queued => Earliest(RedispatchAt, DeadlineAt),
        RunStates.Running => Earliest(Earliest(LeaseExpiresAt, DeadlineAt), StallDeadlineAt),
        RunStates.Cancelling or RunStates.TimingOut => LeaseExpiresAt,
        RunStates.RetryScheduled => Earliest(NextAttemptAt, DeadlineAt),
        _ => null,
    };

    /// <summary>A copy of every column (all values or immutable strings, so a shallow copy is a full one).</summary>
    internal RunState Copy() => (RunState)MemberwiseClone();

    static DateTimeOffset? Earliest(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a < b ? a : b;
}
