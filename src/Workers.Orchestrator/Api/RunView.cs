using Workers.Contracts;

namespace Workers.Orchestrator.Api;

/// <summary>One run as the HTTP API and the CLI show it (JSON, camelCase).</summary>
public sealed record RunView
{
    public Guid RunId { get; init; }
    public string State { get; init; } = "";
    public string Agent { get; init; } = "";
    public string Runtime { get; init; } = "";
    public int Priority { get; init; }
    public int Attempt { get; init; }
    public int MaxAttempts { get; init; }
    public string? Tenant { get; init; }
    public IReadOnlyDictionary<string, string>? Labels { get; init; }
    public string? WorkerId { get; init; }
    public string? Input { get; init; }
    /// <summary>The final result text.</summary>
    public string? Output { get; init; }
    /// <summary>Why the run failed, was rejected, cancelled or timed out.</summary>
    public string? Error { get; init; }
    /// <summary>A short machine-readable kind of <see cref="Error"/>, e.g. <c>exit-code</c> or <c>start-to-close-timeout</c>.</summary>
    public string? ErrorKind { get; init; }
    /// <summary>The retry policy and timeouts the run was admitted with.</summary>
    public RunLimits? Limits { get; init; }
    /// <summary>When the earliest timeout of the current state passes, if one applies.</summary>
    public DateTimeOffset? DeadlineAt { get; init; }
    public DateTimeOffset SubmittedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public DateTimeOffset? LeaseExpiresAt { get; init; }
    public DateTimeOffset? NextAttemptAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    /// <summary>Why a queued run is not being picked up, when the fleet can tell (e.g. no live worker offers its runtime).</summary>
    public string? WaitingReason { get; init; }
    public RunUsageView Usage { get; init; } = new();
    /// <summary>
    /// What the last finished attempt changed in its workspace, the commands it ran and its hand-off note. Only in
    /// <c>GET /api/runs/{id}</c>; pages of runs leave it out to stay small.
    /// </summary>
    public RunArtifacts? Artifacts { get; init; }
}

/// <summary>Steps, tool calls, tokens and cost so far.</summary>
public sealed record RunUsageView
{
    public int Steps { get; init; }
    public int ToolCalls { get; init; }
    public long InputTokens { get; init; }
    public long OutputTokens { get; init; }
    public decimal CostUsd { get; init; }
}

/// <summary>A page of runs; pass <see cref="NextCursor"/> as <c>cursor</c> for the next page (null: no more).</summary>
public sealed record RunPage(IReadOnlyList<RunView> Items, string? NextCursor);

/// <summary>Body of <c>POST /api/runs</c>.</summary>
public sealed record SubmitRunRequest
{
    /// <summary>Optional client-chosen id (the idempotency key); a new one is made when absent.</summary>
    public Guid? RunId { get; init; }
    public string? Agent { get; init; }
    public string? Input { get; init; }
    public int? Priority { get; init; }
    public string? Runtime { get; init; }
    public string? Tenant { get; init; }
    public IReadOnlyDictionary<string, string>? Labels { get; init; }
    public int? MaxAttempts { get; init; }
    /// <summary>Retry policy and timeouts for this run (override the agent's); <see cref="MaxAttempts"/> wins over <c>limits.maxAttempts</c>.</summary>
    public RunLimits? Limits { get; init; }
    /// <summary>Optional repository to clone into the run's workspace (<c>{"repository": "...", "ref": "..."}</c>); overrides the agent's.</summary>
    public WorkspaceSpec? Workspace { get; init; }
}

/// <summary>Answer of <c>POST /api/runs</c> (202) and <c>POST /api/runs/{id}/cancel</c>.</summary>
public sealed record RunAccepted(Guid RunId, string State, string? Detail = null);

/// <summary>One worker from the registry (<c>GET /api/workers</c>).</summary>
public sealed record WorkerView
{
    public string WorkerId { get; init; } = "";
    public string HostName { get; init; } = "";
    public IReadOnlyList<string> Runtimes { get; init; } = [];
    /// <summary>Runtimes the worker cannot offer: what is missing and the help URL.</summary>
    public IReadOnlyList<UnavailableRuntime> Unavailable { get; init; } = [];
    public int Slots { get; init; }
    public int ActiveRuns { get; init; }
    public bool Draining { get; init; }
    /// <summary>
    /// Since when the worker's mailbox has been down (its queue lost with a broker restart or a connection, not declared
    /// again yet), or null: meanwhile it takes no work. A worker down for long needs a restart.
    /// </summary>
    public DateTimeOffset? MailboxDownSince { get; init; }
    /// <summary><c>alive</c>, or <c>lost</c> when no heartbeat came within the lease duration.</summary>
    public string Status { get; init; } = "";
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset LastSeenAt { get; init; }
}

/// <summary>One event of a run's log (<c>GET /api/runs/{id}/events</c>).</summary>
public sealed record RunEventView
{
    public int Attempt { get; init; }
    public long Sequence { get; init; }
    public DateTimeOffset At { get; init; }
    /// <summary><c>message</c>, <c>tool-started</c>, <c>tool-completed</c>, <c>usage</c>, <c>log</c>, <c>checkpoint</c> or <c>resumed</c>.</summary>
    public string Type { get; init; } = "";
    public string? Text { get; init; }
    public string? Tool { get; init; }
    public string? CallId { get; init; }
    public bool IsError { get; init; }
}

/// <summary>A page of events; pass <see cref="Next"/> as <c>after</c> to get the events that follow (poll it to follow a live run).</summary>
public sealed record RunEventPage(IReadOnlyList<RunEventView> Items, string Next);
