namespace Workers.Contracts;

/// <summary>
/// A worker asks for the leases on several dispatched attempts at once: the claims it gathered while its previous request
/// was in flight. Answered with one <see cref="RunsClaimed"/>. Each claim is judged exactly as a <see cref="ClaimRun"/> would be.
/// The successes the worker made meanwhile ride along in <see cref="Succeeded"/>, recorded in the same transaction.
/// </summary>
public sealed record ClaimRuns
{
    public string WorkerId { get; init; } = "";

    /// <summary>
    /// The worker's mailbox, where the orchestrator sends <see cref="StopRun"/> for these runs
    /// (through the shared exchange, by its queue name).
    /// </summary>
    public Uri? WorkerAddress { get; init; }

    public IReadOnlyList<RunClaim> Claims { get; init; } = [];

    /// <summary>
    /// Attempts of this worker that finished successfully, each kept or ignored exactly as a <see cref="RunSucceeded"/> would
    /// be, before the claims are judged. Empty from workers that report every success on its own.
    /// </summary>
    public IReadOnlyList<RunSucceeded> Succeeded { get; init; } = [];
}

/// <summary>One attempt asked for in a <see cref="ClaimRuns"/>.</summary>
public sealed record RunClaim
{
    public Guid RunId { get; init; }

    public int Attempt { get; init; }

    /// <summary>Unique per claim, so that a claim sent again is answered with the same lease.</summary>
    public Guid ClaimId { get; init; }
}

/// <summary>The answer to a <see cref="ClaimRuns"/>: every claim in it is either granted or refused.</summary>
public sealed record RunsClaimed
{
    public IReadOnlyList<RunClaimed> Granted { get; init; } = [];

    public IReadOnlyList<ClaimRejected> Rejected { get; init; } = [];
}
