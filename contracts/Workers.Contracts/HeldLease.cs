namespace Workers.Contracts;

/// <summary>A lease a worker holds, with the run's progress so far.</summary>
public sealed record HeldLease
{
    public Guid RunId { get; init; }

    public int Attempt { get; init; }

    public Guid LeaseId { get; init; }

    public RunUsage Usage { get; init; } = new();
}
