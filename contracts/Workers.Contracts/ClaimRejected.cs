namespace Workers.Contracts;

/// <summary>The claim is refused (the attempt is stale, already claimed, or the run was cancelled): drop the dispatch.</summary>
public sealed record ClaimRejected
{
    public Guid RunId { get; init; }

    public int Attempt { get; init; }

    /// <summary>The run's state when the claim was refused.</summary>
    public string State { get; init; } = "";

    public string Reason { get; init; } = "";
}
