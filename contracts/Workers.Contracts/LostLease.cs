namespace Workers.Contracts;

/// <summary>A lease the worker no longer holds, and why (expired, cancelled, finished).</summary>
public sealed record LostLease
{
    public Guid RunId { get; init; }

    public Guid LeaseId { get; init; }

    public string Reason { get; init; } = "";
}
