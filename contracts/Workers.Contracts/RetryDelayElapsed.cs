namespace Workers.Contracts;

/// <summary>Timer: the backoff before the next attempt of a failed run is over.</summary>
public sealed record RetryDelayElapsed
{
    public Guid RunId { get; init; }

    /// <summary>The attempt that failed.</summary>
    public int Attempt { get; init; }
}
