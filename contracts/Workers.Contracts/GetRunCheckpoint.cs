namespace Workers.Contracts;

/// <summary>A worker starting a retried attempt asks for the run's last checkpoint. Answered with <see cref="RunCheckpointAnswer"/>.</summary>
public sealed record GetRunCheckpoint
{
    public Guid RunId { get; init; }

    /// <summary>The lease of the attempt that will resume; only its holder gets the checkpoint.</summary>
    public Guid LeaseId { get; init; }
}

/// <summary>The run's last checkpoint, or none.</summary>
public sealed record RunCheckpointAnswer
{
    public Guid RunId { get; init; }

    /// <summary>Null when no earlier attempt saved one.</summary>
    public RunCheckpoint? Checkpoint { get; init; }
}
