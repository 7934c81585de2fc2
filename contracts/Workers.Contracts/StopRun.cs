namespace Workers.Contracts;

/// <summary>Sent to the worker holding the lease: stop the attempt now (cancelled) and report <see cref="RunCancelled"/>.</summary>
public sealed record StopRun
{
    public Guid RunId { get; init; }

    public Guid LeaseId { get; init; }

    public string Reason { get; init; } = "";
}
