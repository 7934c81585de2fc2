using MassTransit;
using Workers.Contracts;
using Workers.Runs.Leases;

namespace Workers.Runs.StateMachine;

/// <summary>
/// The run lifecycle, the single source of truth. Broker messages are hints: every event carries the attempt
/// (and, after a claim, the lease id), and one that does not match the row is ignored, so duplicates and
/// out-of-order deliveries never move a run.
/// </summary>
public sealed class RunStateMachine : MassTransitStateMachine<RunState>
{
    public RunStateMachine(RunLifecycle lifecycle)
    {
        ArgumentNullException.ThrowIfNull(lifecycle);

        InstanceState(x => x.CurrentState);

        Event(() => SubmitRequested, e => e.CorrelateById(m => m.Message.RunId));
        Event(() => ClaimRequested, e =>
        {
            e.CorrelateById(m => m.Message.RunId);
            e.OnMissingInstance(m => m.ExecuteAsync(c => c.RespondAsync(RunLifecycle.UnknownRunClaimRejected(c.Message.RunId, c.Message.Attempt))));
        });
        Event(() => CancelRequested, e => { e.CorrelateById(m => m.Message.RunId); e.OnMissingInstance(m => m.Discard()); });
        Event(() => AttemptSucceeded, e => { e.CorrelateById(m => m.Message.RunId); e.OnMissingInstance(m => m.Discard()); });
        Event(() => AttemptFailed, e => { e.CorrelateById(m => m.Message.RunId); e.OnMissingInstance(m => m.Discard()); });
        Event(() => AttemptCancelled, e => { e.CorrelateById(m => m.Message.RunId); e.OnMissingInstance(m => m.Discard()); });
        Event(() => AttemptReleased, e => { e.CorrelateById(m => m.Message.RunId); e.OnMissingInstance(m => m.Discard()); });
        Event(() => LeaseExpired, e => { e.CorrelateById(m => m.Message.RunId); e.OnMissingInstance(m => m.Discard()); });
        Event(() => RetryDelayElapsed, e => { e.CorrelateById(m => m.Message.RunId); e.OnMissingInstance(m => m.Discard()); });
        Event(() => DispatchElapsed, e => { e.CorrelateById(m => m.Message.RunId); e.OnMissingInstance(m => m.Discard()); });
        Event(() => DeadlineElapsed, e => { e.CorrelateById(m => m.Message.RunId); e.OnMissingInstance(m => m.Discard()); });

        // Stale or duplicate events in states that do not expect them are normal traffic, not faults.
        OnUnhandledEvent(context => context.Ignore());

        // Claims follow one table in every state (ClaimJudge), shared with the batch path (ClaimBatchConsumer).
        DuringAny(
            When(ClaimRequested, c => RunStateMachineBehaviors.Judge(c).Outcome == ClaimOutcome.Grant)
                .Then(lifecycle.GrantLease)
                .TransitionTo(Running)
                .RespondClaimed(lifecycle),
            When(ClaimRequested, c => RunStateMachineBehaviors.Judge(c).Outcome == ClaimOutcome.Reaffirm)
                .RespondClaimed(lifecycle),
            When(ClaimRequested, c => RunStateMachineBehaviors.Judge(c).Outcome == ClaimOutcome.Refuse)
                .RefuseClaim());

        // A success is kept in every state where its attempt may still be the run's (RunLifecycle.AcceptsSuccess), the same
        // rule as the batch path (SuccessBatchConsumer).
        DuringAny(
            When(AttemptSucceeded, c => RunLifecycle.AcceptsSuccess(c.Saga, c.Message.LeaseId))
                .Then(lifecycle.RecordSuccess)
                .TransitionTo(Succeeded));

        Initially(
            When(SubmitRequested)
                .Then(lifecycle.Admit)
                .IfElse(c => c.Saga.ErrorKind == RunLifecycle.RejectedKind,
                    rejected => rejected.TransitionTo(Rejected).PublishRejected(),
                    // An idle worker's offered slot takes the run at once; otherwise it waits its turn in its runtime's queue.
                    admitted => admitted.IfElse(c => lifecycle.TryLeaseToOfferedSlot(c.Saga),
                        offered => offered.TransitionTo(Running).SendAssignment(lifecycle),
                        queued => queued.TransitionTo(Queued).Dispatch(lifecycle))));

        During(Queued,
            // A redelivered submission means the first handling may have crashed after its commit, before its
            // dispatch left: send the dispatch again (a duplicate is refused at claim time).
            When(SubmitRequested)
                .Dispatch(lifecycle),
            When(DispatchElapsed, c => c.Message.Attempt == c.Saga.Attempt && lifecycle.DispatchLooksLost(c.Saga))
                .Dispatch(lifecycle),
            // Still waiting its turn behind a backlog that workers are working through: a copy would only be refused.
            When(DispatchElapsed, c => c.Message.Attempt == c.Saga.Attempt && !lifecycle.DispatchLooksLost(c.Saga))
                .Then(lifecycle.PostponeRedispatch),
            When(DeadlineElapsed, c => lifecycle.DueTimeout(c.Saga) is not null)
                .Then(lifecycle.RecordTimeout)
                .Then(lifecycle.FinishTimedOut)
                .TransitionTo(TimedOut),
            When(CancelRequested)
                .Then(lifecycle.CancelBeforeStart)
                .TransitionTo(Cancelled),
            // The attempt whose lapse queued this one is handed back after all: it never ran, so it does not count.
            When(AttemptReleased, c => c.Message.LeaseId == c.Saga.LeaseId && c.Saga.ErrorKind == RunLifecycle.LeaseExpiredKind)
                .Then(lifecycle.RefundLapsedAttempt));

        During(Running,
            When(AttemptFailed, c => c.Message.LeaseId == c.Saga.LeaseId)
                .Then(lifecycle.RecordFailure)
                .RetryOrFail(lifecycle, this),
            // Nobody asked for this stop (a cancel or a timeout leaves Running first): a failed attempt, not a cancelled run.
            When(AttemptCancelled, c => c.Message.LeaseId == c.Saga.LeaseId)
                .Then(lifecycle.RecordUnrequestedStop)
                .RetryOrFail(lifecycle, this),
            When(AttemptReleased, c => c.Message.LeaseId == c.Saga.LeaseId)
                .Then(lifecycle.ReleaseAttempt)
                .TransitionTo(Queued)
                .Dispatch(lifecycle),
            When(LeaseExpired, c => c.Message.LeaseId == c.Saga.LeaseId && lifecycle.LeaseHasExpired(c.Saga))
                .Then(lifecycle.RecordLeaseLost)
                .RetryOrFail(lifecycle, this),
            // A timeout while the attempt runs: stop it first (never two attempts at once), then retry or time out.
            When(DeadlineElapsed, c => lifecycle.DueTimeout(c.Saga) is not null)
                .Then(lifecycle.RecordTimeout)
                .TransitionTo(TimingOut)
                .SendStopRun(),
            When(CancelRequested)
                .Then(lifecycle.RequestCancel)
                .TransitionTo(Cancelling)
                .SendStopRun());

        During(TimingOut,
            When(AttemptFailed, c => c.Message.LeaseId == c.Saga.LeaseId)
                .Then(lifecycle.EndTimedOutAttempt)
                .RetryOrTimeOut(lifecycle, this),
            When(AttemptCancelled, c => c.Message.LeaseId == c.Saga.LeaseId)
                .Then(lifecycle.EndTimedOutAttempt)
                .RetryOrTimeOut(lifecycle, this),
            When(AttemptReleased, c => c.Message.LeaseId == c.Saga.LeaseId)
                .Then(lifecycle.EndTimedOutAttempt)
                .RetryOrTimeOut(lifecycle, this),
            // The worker never answered the stop (crashed or cut off): once its lease lapses it can no longer be running.
            When(LeaseExpired, c => c.Message.LeaseId == c.Saga.LeaseId && lifecycle.LeaseHasExpired(c.Saga))
                .Then(lifecycle.EndTimedOutAttempt)
                .RetryOrTimeOut(lifecycle, this),
            When(CancelRequested)
                .Then(lifecycle.RequestCancel)
                .TransitionTo(Cancelling)
                .SendStopRun());

        During(Cancelling,
            When(AttemptFailed, c => c.Message.LeaseId == c.Saga.LeaseId)
                .Then(lifecycle.FinishCancel)
                .TransitionTo(Cancelled),
            When(AttemptCancelled, c => c.Message.LeaseId == c.Saga.LeaseId)
                .Then(lifecycle.RecordCancelled)
                .TransitionTo(Cancelled),
            When(AttemptReleased, c => c.Message.LeaseId == c.Saga.LeaseId)
                .Then(lifecycle.FinishCancel)
                .TransitionTo(Cancelled),
            When(LeaseExpired, c => c.Message.LeaseId == c.Saga.LeaseId && lifecycle.LeaseHasExpired(c.Saga))
                .Then(lifecycle.FinishCancel)
                .TransitionTo(Cancelled),
            // Nudge the worker again: the first StopRun may have been lost.
            When(CancelRequested)
                .SendStopRun());

        During(RetryScheduled,
            When(RetryDelayElapsed, c => c.Message.Attempt == c.Saga.Attempt && lifecycle.RetryIsDue(c.Saga))
                .Then(lifecycle.BeginNextAttempt)
                .TransitionTo(Queued)
                .Dispatch(lifecycle),
            When(DeadlineElapsed, c => lifecycle.DueTimeout(c.Saga) is not null)
                .Then(lifecycle.RecordTimeout)
                .Then(lifecycle.FinishTimedOut)
                .TransitionTo(TimedOut),
            When(CancelRequested)
                .Then(lifecycle.CancelBeforeStart)
                .TransitionTo(Cancelled));

        During(Rejected,
            When(SubmitRequested)
                .PublishRejected());
    }

    public State Queued { get; } = null!;
    public State Running { get; } = null!;
    public State Cancelling { get; } = null!;
    public State RetryScheduled { get; } = null!;
    public State Succeeded { get; } = null!;
    public State Failed { get; } = null!;
    public State Cancelled { get; } = null!;
    public State Rejected { get; } = null!;
    public State TimingOut { get; } = null!;
    public State TimedOut { get; } = null!;

    public Event<SubmitRun> SubmitRequested { get; } = null!;
    public Event<ClaimRun> ClaimRequested { get; } = null!;
    public Event<CancelRun> CancelRequested { get; } = null!;
    public Event<RunSucceeded> AttemptSucceeded { get; } = null!;
    public Event<RunFailed> AttemptFailed { get; } = null!;
    public Event<RunCancelled> AttemptCancelled { get; } = null!;
    public Event<RunReleased> AttemptReleased { get; } = null!;
    public Event<LeaseExpired> LeaseExpired { get; } = null!;
    public Event<RetryDelayElapsed> RetryDelayElapsed { get; } = null!;
    public Event<DispatchElapsed> DispatchElapsed { get; } = null!;
    public Event<DeadlineElapsed> DeadlineElapsed { get; } = null!;
}
