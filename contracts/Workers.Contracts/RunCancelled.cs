namespace Workers.Contracts;

/// <summary>The attempt was stopped on its worker because the orchestrator asked: a cancel request, or a timeout.</summary>
public sealed record RunCancelled
{
    public Guid RunId { get; init; }

    public int Attempt { get; init; }

    public Guid LeaseId { get; init; }

    public string WorkerId { get; init; } = "";

    public string? Reason { get; init; }

    public RunUsage Usage { get; init; } = new();

    public DateTimeOffset FinishedAt { get; init; }

    /// <summary>What the attempt changed in its workspace, the commands it ran and its hand-off note; null if not recorded.</summary>
    public RunArtifacts? Artifacts { get; init; }
}
