namespace Workers.Contracts;

/// <summary>Reply to a <see cref="WorkerHeartbeat"/>: which leases were extended and which the worker no longer holds.</summary>
public sealed record LeasesRenewed
{
    public string WorkerId { get; init; } = "";

    /// <summary>The new expiry of every renewed lease.</summary>
    public DateTimeOffset ExpiresAt { get; init; }

    /// <summary>
    /// How long the lease lasts from the orchestrator's reply. Workers time their own lease clock with it
    /// (monotonic, from when they asked), so fencing does not depend on the hosts' wall clocks agreeing.
    /// </summary>
    public TimeSpan LeaseDuration { get; init; }

    /// <summary>Leases that were not renewed: the worker must stop those runs at once.</summary>
    public IReadOnlyList<LostLease> Lost { get; init; } = [];
}
