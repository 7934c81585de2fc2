namespace Workers.Contracts;

/// <summary>The attempt failed. <see cref="Retryable"/> says whether another attempt may succeed.</summary>
public sealed record RunFailed
{
    public Guid RunId { get; init; }

    public int Attempt { get; init; }

    public Guid LeaseId { get; init; }

    public string WorkerId { get; init; } = "";

    /// <summary>What went wrong, for a human.</summary>
    public string Error { get; init; } = "";

    /// <summary>A short machine-readable kind, e.g. <c>exit-code</c>, <c>agent-error</c>, <c>prerequisite</c>.</summary>
    public string? Kind { get; init; }

    public bool Retryable { get; init; }

    /// <summary>Output produced before the failure, if any.</summary>
    public string? Output { get; init; }

    public RunUsage Usage { get; init; } = new();

    public DateTimeOffset FinishedAt { get; init; }

    /// <summary>What the attempt changed in its workspace, the commands it ran and its hand-off note; null if not recorded.</summary>
    public RunArtifacts? Artifacts { get; init; }
}
