namespace Workers.Contracts;

/// <summary>The attempt finished successfully.</summary>
public sealed record RunSucceeded
{
    public Guid RunId { get; init; }

    public int Attempt { get; init; }

    public Guid LeaseId { get; init; }

    public string WorkerId { get; init; } = "";

    /// <summary>The final result text.</summary>
    public string Output { get; init; } = "";

    public RunUsage Usage { get; init; } = new();

    public DateTimeOffset FinishedAt { get; init; }

    /// <summary>What the attempt changed in its workspace, the commands it ran and its hand-off note; null if not recorded.</summary>
    public RunArtifacts? Artifacts { get; init; }
}
