namespace Workers.Contracts;

/// <summary>
/// What the agents of one worker did since its last report: their events and their latest checkpoints, one entry per
/// attempt. Sent about twice a second while agents produce events, and once more before an attempt's result, so the
/// event log of a run is complete when the run ends. One message per worker, not per run.
/// </summary>
public sealed record RunActivity
{
    public string WorkerId { get; init; } = "";

    public IReadOnlyList<AttemptActivity> Attempts { get; init; } = [];
}

/// <summary>Events and the newest checkpoint of one attempt.</summary>
public sealed record AttemptActivity
{
    public Guid RunId { get; init; }

    public int Attempt { get; init; }

    /// <summary>The attempt's lease: a checkpoint from a lease that is no longer the run's is not kept.</summary>
    public Guid LeaseId { get; init; }

    public IReadOnlyList<RunEvent> Events { get; init; } = [];

    /// <summary>The newest checkpoint since the last report, if the runtime writes them.</summary>
    public RunCheckpoint? Checkpoint { get; init; }
}

/// <summary>One thing an agent did. <see cref="Sequence"/> orders events within an attempt and makes redelivery harmless.</summary>
public sealed record RunEvent
{
    /// <summary>1, 2, 3… within the attempt.</summary>
    public long Sequence { get; init; }

    public DateTimeOffset At { get; init; }

    /// <summary>
    /// <c>message</c>, <c>tool-started</c>, <c>tool-completed</c>, <c>usage</c>, <c>log</c>, <c>checkpoint</c> or <c>resumed</c>.
    /// </summary>
    public string Type { get; init; } = "";

    /// <summary>The message text, the tool's input or output, the log line (truncated), or a summary for the other types.</summary>
    public string? Text { get; init; }

    /// <summary>The tool's name, for tool events.</summary>
    public string? Tool { get; init; }

    /// <summary>Pairs a tool's start with its completion, when the runtime knows it.</summary>
    public string? CallId { get; init; }

    /// <summary>A tool call that failed.</summary>
    public bool IsError { get; init; }
}

/// <summary>A runtime's saved progress: a later attempt of the run may resume from it instead of starting over.</summary>
public sealed record RunCheckpoint
{
    /// <summary>The attempt that wrote it.</summary>
    public int Attempt { get; init; }

    /// <summary>Steps completed when it was written.</summary>
    public int Step { get; init; }

    /// <summary>Opaque to the fleet; the runtime that wrote it reads it back.</summary>
    public string State { get; init; } = "";
}
