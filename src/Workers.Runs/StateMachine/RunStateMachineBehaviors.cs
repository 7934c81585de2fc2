using MassTransit;
using Workers.Contracts;
using Workers.Runs.Leases;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Runs.StateMachine;

/// <summary>Multi-step behaviours of <see cref="RunStateMachine"/>, so each transition reads as one line.</summary>
static class RunStateMachineBehaviors
{
    /// <summary>
    /// Sends the current attempt to its runtime's priority queue and arms the re-dispatch timer. A restart is announced
    /// too, after its dispatch: a worker holding a lower dispatch while it waits for a slot then steps aside for it.
    /// </summary>
    public static EventActivityBinder<RunState, T> Dispatch<T>(this EventActivityBinder<RunState, T> binder, RunLifecycle lifecycle)
        where T : class =>
        binder
            .Then(lifecycle.ArmRedispatch)
            .ThenAsync(async context =>
            {
                var run = context.Saga;
                var endpoint = await context.GetSendEndpoint(RunQueues.DispatchAddress(run.Runtime)).ConfigureAwait(false);
                var dispatch = RunLifecycle.ToExecuteRun(run);
                await endpoint.Send(dispatch, send => send.TrySetPriority((byte)dispatch.Priority), context.CancellationToken)
                    .ConfigureAwait(false);
                if (dispatch.Priority >= RunQueues.RestartPriority)
                {
                    await context.Publish(new RestartQueued { RunId = run.CorrelationId, Attempt = run.Attempt, Runtime = run.Runtime, Priority = dispatch.Priority },
                        context.CancellationToken).ConfigureAwait(false);
                }
            });

    /// <summary>
    /// Hands a run leased on an offered slot to its worker. Sent after the commit (the outbox); if it is lost, the lease lapses
    /// unrenewed and the run restarts, as after a worker crash.
    /// </summary>
    public static EventActivityBinder<RunState, T> SendAssignment<T>(this EventActivityBinder<RunState, T> binder, RunLifecycle lifecycle)
        where T : class =>
        binder.ThenAsync(context =>
            WorkerMailboxes.SendAsync(context, context.Saga.WorkerAddress!, lifecycle.Assigned(context.Saga), context.CancellationToken));

    public static EventActivityBinder<RunState, ClaimRun> RespondClaimed(this EventActivityBinder<RunState, ClaimRun> binder, RunLifecycle lifecycle) =>
        binder.Respond(context => lifecycle.Claimed(context.Saga));

    public static EventActivityBinder<RunState, ClaimRun> RefuseClaim(this EventActivityBinder<RunState, ClaimRun> binder) =>
        binder.Respond(context => RunLifecycle.ClaimRefused(context.Saga, context.Message.Attempt, Judge(context).Reason));

    /// <summary>The claim rules shared with the batch path (<see cref="ClaimJudge"/>).</summary>
    public static ClaimVerdict Judge(BehaviorContext<RunState, ClaimRun> context) =>
        ClaimJudge.Judge(context.Saga, context.Message.Attempt, context.Message.ClaimId);

    public static EventActivityBinder<RunState, SubmitRun> PublishRejected(this EventActivityBinder<RunState, SubmitRun> binder) =>
        binder.PublishAsync(context => context.Init<RunRejected>(new RunRejected
        {
            RunId = context.Saga.CorrelationId,
            Reason = context.Saga.LastError ?? "",
        }));

    /// <summary>Tells the worker holding the lease to stop. Without an address (an old claim) the heartbeat reply carries it.</summary>
    public static EventActivityBinder<RunState, T> SendStopRun<T>(this EventActivityBinder<RunState, T> binder)
        where T : class =>
        binder.ThenAsync(async context =>
        {
            var run = context.Saga;
            if (run.WorkerAddress is null || run.LeaseId is null)
                return;
            await WorkerMailboxes.SendAsync(context, run.WorkerAddress,
                new StopRun { RunId = run.CorrelationId, LeaseId = run.LeaseId.Value, Reason = run.LastError ?? "cancelled" },
                context.CancellationToken).ConfigureAwait(false);
        });

    /// <summary>
    /// After a failed attempt: another attempt if it may succeed and the budget allows, else Failed. A lost lease is
    /// restarted at once, at the head of its queue (the lease has already waited, and the agent did not fail); any other
    /// failure waits for its backoff.
    /// </summary>
    public static EventActivityBinder<RunState, T> RetryOrFail<T>(this EventActivityBinder<RunState, T> binder, RunLifecycle lifecycle,
        RunStateMachine machine)
        where T : class =>
        binder.IfElse(RunLifecycle.ShouldRetry,
            retry => retry.IfElse(RunLifecycle.LostItsLease,
                restart => restart.Then(lifecycle.RestartLostAttempt).TransitionTo(machine.Queued).Dispatch(lifecycle),
                later => later.Then(lifecycle.ScheduleRetry).TransitionTo(machine.RetryScheduled)),
            fail => fail.Then(lifecycle.FinishFailed).TransitionTo(machine.Failed));

    /// <summary>After a timed-out attempt has stopped: another attempt if its timeout allows one, else TimedOut.</summary>
    public static EventActivityBinder<RunState, T> RetryOrTimeOut<T>(this EventActivityBinder<RunState, T> binder, RunLifecycle lifecycle,
        RunStateMachine machine)
        where T : class =>
        binder.IfElse(lifecycle.ShouldRetryTimedOutAttempt,
            retry => retry.Then(lifecycle.ScheduleRetry).TransitionTo(machine.RetryScheduled),
            timedOut => timedOut.Then(lifecycle.FinishTimedOut).TransitionTo(machine.TimedOut));
}
