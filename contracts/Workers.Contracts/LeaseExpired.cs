namespace Workers.Contracts;

/// <summary>Timer: the sweeper found the lease of a running attempt not renewed in time.</summary>
public sealed record LeaseExpired
{
    public Guid RunId { get; init; }

    public int Attempt { get; init; }

    public Guid LeaseId { get; init; }
}
