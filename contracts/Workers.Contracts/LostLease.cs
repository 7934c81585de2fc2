namespace Workers.Contracts;

/// <summary>A lease the worker no longer holds, and why (expired, cancelled, finished).</summary>
public sealed record LostLease
{
    public Guid RunId { get; init; }

    public Guid LeaseId { get; init; }

    public string Reason { get; init; } = "";

    /// <summary>
    /// True while the orchestrator still counts the lease held until it lapses and only asks for the run to stop (a cancel or a
    /// timeout): the agent gets its grace period, up to the lease's end. False: the lease is gone and the run may be granted
    /// to another worker, so the agent is killed at once.
    /// </summary>
    public bool Graceful { get; init; }
}
