namespace Workers.Contracts;

/// <summary>
/// Timer: one of the run's timeouts (schedule-to-start, start-to-close, schedule-to-close, stall) has passed. The saga
/// checks which against the row and acts; a late or duplicate timer changes nothing.
/// </summary>
public sealed record DeadlineElapsed
{
    public Guid RunId { get; init; }

    public int Attempt { get; init; }
}
