namespace Workers.Contracts;

/// <summary>
/// The worker gave the attempt back without finishing it (it is shutting down). The run is dispatched again at once
/// and the released attempt does not count against the run's attempts.
/// </summary>
public sealed record RunReleased
{
    public Guid RunId { get; init; }

    public int Attempt { get; init; }

    public Guid LeaseId { get; init; }

    public string WorkerId { get; init; } = "";

    public string? Reason { get; init; }

    public RunUsage Usage { get; init; } = new();
}
