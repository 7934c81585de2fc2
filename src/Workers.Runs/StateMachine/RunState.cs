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

    /// <summary>
    /// When the timer sweeper must look at this run next, derived from the state: a queued run's re-dispatch,
    /// a running run's lease expiry, a retry's backoff. Null in final states.
    /// </summary>
    public DateTimeOffset? DueAt => CurrentState switch
    {
        RunStates.Queued => RedispatchAt,
        RunStates.Running or RunStates.Cancelling => LeaseExpiresAt,
        RunStates.RetryScheduled => NextAttemptAt,
        _ => null,
    };
}
