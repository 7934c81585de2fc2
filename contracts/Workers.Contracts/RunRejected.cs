namespace Workers.Contracts;

/// <summary>Published when a submission is invalid; the run is recorded as <c>Rejected</c> with the same reason.</summary>
public sealed record RunRejected
{
    public Guid RunId { get; init; }

    /// <summary>What is wrong and how to fix it.</summary>
    public string Reason { get; init; } = "";
}
