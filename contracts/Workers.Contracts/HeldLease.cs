namespace Workers.Contracts;

/// <summary>A lease a worker holds, with the run's progress so far.</summary>
public sealed record HeldLease
{
    public Guid RunId { get; init; }

    public int Attempt { get; init; }

    public Guid LeaseId { get; init; }

    public RunUsage Usage { get; init; } = new();

    /// <summary>How many events the agent has produced in this attempt; when it stops growing, the attempt is stalled.</summary>
    public long Progress { get; init; }
}
