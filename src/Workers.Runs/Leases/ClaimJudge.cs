using Workers.Runs.StateMachine;

namespace Workers.Runs.Leases;

/// <summary>What a claim gets.</summary>
public enum ClaimOutcome
{
    /// <summary>The attempt is queued and unclaimed: grant it a new lease.</summary>
    Grant,

    /// <summary>The same claim was granted before (a claim sent again): answer with the lease it holds.</summary>
    Reaffirm,

    /// <summary>The worker must drop the dispatch; <see cref="ClaimVerdict.Reason"/> says why.</summary>
    Refuse,
}

/// <summary>A claim's outcome and, when refused, why.</summary>
public readonly record struct ClaimVerdict(ClaimOutcome Outcome, string Reason = "");

/// <summary>
/// The claim rules, decided from the run's row alone: one table for a single <c>ClaimRun</c> (the state machine) and a
/// batch (<see cref="ClaimBatchConsumer"/>), so both paths grant and refuse exactly alike. A lease is only ever granted
/// to the current attempt of a queued run, which is what keeps two workers from running one run at once.
/// </summary>
public static class ClaimJudge
{
    public static ClaimVerdict Judge(RunState run, int attempt, Guid claimId)
    {
        ArgumentNullException.ThrowIfNull(run);
        return run.CurrentState switch
        {
            RunStates.Queued when attempt == run.Attempt => new(ClaimOutcome.Grant),
            RunStates.Queued => Refuse("the attempt is stale"),
            RunStates.Running when claimId == run.ClaimId => new(ClaimOutcome.Reaffirm),
            RunStates.Running => Refuse("the run is already claimed"),
            RunStates.TimingOut => Refuse("the run is timing out"),
            RunStates.Cancelling => Refuse("the run is being cancelled"),
            RunStates.RetryScheduled => Refuse("the attempt is stale"),
            RunStates.Rejected => Refuse("the run was rejected"),
            _ when RunStates.IsTerminal(run.CurrentState) => Refuse("the run has finished"),
            _ => Refuse($"the run is {run.CurrentState}"),
        };
    }

    static ClaimVerdict Refuse(string reason) => new(ClaimOutcome.Refuse, reason);
}
