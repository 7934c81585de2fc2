namespace Workers.Contracts;

/// <summary>The lease is granted: the worker may execute the attempt until the lease expires unless heartbeats extend it.</summary>
public sealed record RunClaimed
{
    public Guid RunId { get; init; }

    public int Attempt { get; init; }

    /// <summary>Fencing token: every event about this attempt carries it; events with another lease id are ignored.</summary>
    public Guid LeaseId { get; init; }

    public DateTimeOffset LeaseExpiresAt { get; init; }

    /// <summary>
    /// How long the lease lasts from the orchestrator's reply. Workers time their own lease clock with it
    /// (monotonic, from when they asked), so fencing does not depend on the hosts' wall clocks agreeing.
    /// </summary>
    public TimeSpan LeaseDuration { get; init; }
}
