namespace Workers.Contracts;

/// <summary>
/// A worker asks for the lease on one attempt of a run. Answered with <see cref="RunClaimed"/> or <see cref="ClaimRejected"/>.
/// </summary>
public sealed record ClaimRun
{
    public Guid RunId { get; init; }

    public int Attempt { get; init; }

    /// <summary>Unique per claim request, so that a redelivered claim is answered with the same lease.</summary>
    public Guid ClaimId { get; init; }

    public string WorkerId { get; init; } = "";

    /// <summary>
    /// The worker's mailbox, where the orchestrator sends <see cref="StopRun"/> for this run
    /// (through the shared exchange, by its queue name).
    /// </summary>
    public Uri? WorkerAddress { get; init; }
}
