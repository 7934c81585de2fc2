namespace Workers.Contracts;

/// <summary>Asks the fleet to cancel a run. Idempotent; cancelling a finished run changes nothing.</summary>
public sealed record CancelRun
{
    public Guid RunId { get; init; }

    /// <summary>Why, for the record.</summary>
    public string? Reason { get; init; }
}
