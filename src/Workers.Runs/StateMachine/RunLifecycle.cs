using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.Options;
using Workers.Contracts;
using Workers.Runs.Admission;
using Workers.Runs.Dispatch;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Runs.StateMachine;

/// <summary>
/// What each transition does to the run row. Kept apart from the state table so the table stays readable and
/// the arithmetic (backoff, lease expiry, truncation) is testable on its own. Time comes from <see cref="TimeProvider"/>.
/// </summary>
public sealed class RunLifecycle(RunAdmission admission, DispatchProgress progress, SlotOffers offers, TimeProvider time, IOptions<RunOptions> options)
{
    /// <summary><see cref="RunState.ErrorKind"/> of a rejected submission.</summary>
    public const string RejectedKind = "rejected";

    RunOptions Policy => options.Value;

    /// <summary>How long a granted or renewed lease lasts.</summary>
    public TimeSpan LeaseDuration => Policy.LeaseDuration;

    DateTimeOffset Now => time.GetUtcNow();

    public void Admit(BehaviorContext<RunState, SubmitRun> context)
    {
        var run = context.Saga;
        var request = context.Message;
        var now = Now;

        run.Agent = Truncate(request.Agent ?? "", 200);
        run.Priority = request.Priority;
        run.Input = request.Input ?? "";
        run.Tenant = request.Tenant;
        run.LabelsJson = request.Labels is null ? null : JsonSerializer.Serialize(request.Labels, JsonSerializerOptions.Web);
        run.SubmittedAt = now;
        run.UpdatedAt = now;

        var result = admission.Admit(request);
        if (!result.Admitted)
        {
            run.Runtime = Truncate(request.Runtime ?? "", 100);
            run.Priority = Math.Clamp(request.Priority, RunAdmission.MinPriority, RunAdmission.MaxPriority);
            run.Input = Truncate(run.Input, Policy.MaxInputLength);
            run.LastError = result.RejectionReason;
            run.ErrorKind = RejectedKind;
            run.FinishedAt = now;
            return;
        }

        run.Runtime = result.Runtime;
        run.AgentSpecJson = result.SpecJson;
        run.Attempt = 1;
        run.QueuedAt = now;
        ApplyPolicy(run, result.Policy!);
    }

    static void ApplyPolicy(RunState run, RunPolicy policy)
    {
        run.MaxAttempts = policy.MaxAttempts;
        run.RetryInitialDelay = policy.RetryInitialDelay;
        run.RetryMaxDelay = policy.RetryMaxDelay;
        run.NonRetryableErrors = policy.NonRetryableErrors.Count == 0 ? null : string.Join(',', policy.NonRetryableErrors);
        run.ScheduleToStartTimeout = policy.ScheduleToStartTimeout;
        run.StartToCloseTimeout = policy.StartToCloseTimeout;
        run.ScheduleToCloseTimeout = policy.ScheduleToCloseTimeout;
        run.StallTimeout = policy.StallTimeout;
        run.RetryOnStall = policy.RetryOnStall;
    }

    /// <summary>Counts the dispatch and sets when to dispatch again if nobody claims it (doubling, capped).</summary>
    public void ArmRedispatch<T>(BehaviorContext<RunState, T> context)
        where T : class
    {
        var run = context.Saga;
        var delay = Backoff(Policy.RedispatchDelay, run.DispatchCount, Policy.RedispatchMaxDelay);
        run.DispatchCount++;
        run.RedispatchAt = Now + delay;
        run.UpdatedAt = Now;
    }

    /// <summary>
    /// The re-dispatch timer of an unclaimed attempt fired: dispatch again if the dispatch looks lost (overtaken in its queue,
    /// or the queue has gone quiet), or once it has waited <see cref="RunOptions.RedispatchMaxDelay"/> whatever it looks like.
    /// </summary>
    public bool DispatchLooksLost(RunState run) =>
        run.QueuedAt is not { } queuedAt
        || Now - queuedAt >= Policy.RedispatchMaxDelay
        || progress.LooksLost(run.Runtime, DispatchPriority(run), queuedAt, Policy.RedispatchDelay);

    /// <summary>
    /// The unclaimed attempt is still behind others in its queue: look again after as long as it has waited so far (at least
    /// <see cref="RunOptions.RedispatchDelay"/>), so a deep backlog costs each run a few timer checks, not a duplicate dispatch.
    /// </summary>
    public void PostponeRedispatch(BehaviorContext<RunState, DispatchElapsed> context)
    {
        var run = context.Saga;
        run.RedispatchAt = PostponedRedispatchAt(run);
        run.UpdatedAt = Now;
    }

    /// <summary>When to look again at an unclaimed attempt that is waiting its turn (see <see cref="PostponeRedispatch"/>).</summary>
    public DateTimeOffset PostponedRedispatchAt(RunState run)
    {
        var waited = Now - (run.QueuedAt ?? Now);
        return Now + TimeSpan.FromTicks(Math.Clamp(waited.Ticks, Policy.RedispatchDelay.Ticks, Policy.RedispatchMaxDelay.Ticks));
    }

    public void GrantLease(BehaviorContext<RunState, ClaimRun> context) =>
        GrantLease(context.Saga, context.Message.ClaimId, context.Message.WorkerId, context.Message.WorkerAddress);

    /// <summary>A new lease on the current attempt, for the claim <paramref name="claimId"/> of worker <paramref name="workerId"/>.</summary>
    public void GrantLease(RunState run, Guid claimId, string workerId, Uri? workerAddress)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (run.QueuedAt is { } queuedAt)
            progress.Granted(run.Runtime, DispatchPriority(run), queuedAt);
        Lease(run, claimId, workerId, workerAddress);
    }

    /// <summary>
    /// Leases a newly accepted run to an idle worker that offered a slot for its runtime (<see cref="SlotOffers"/>), when
    /// one has; the run's <see cref="RunState.ClaimId"/> is then the offer's id. False leaves the run for its queue. Not
    /// counted as queue progress (<see cref="DispatchProgress"/>): the run never was in the queue.
    /// </summary>
    public bool TryLeaseToOfferedSlot(RunState run)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (offers.TryTake(run.Runtime) is not { } slot)
            return false;
        Lease(run, slot.OfferId, slot.WorkerId, slot.WorkerAddress);
        return true;
    }

    void Lease(RunState run, Guid claimId, string workerId, Uri? workerAddress)
    {
        var now = Now;
        run.LeaseId = NewId.NextGuid();
        run.LeaseExpiresAt = now + Policy.LeaseDuration;
        run.ClaimId = claimId;
        run.WorkerId = workerId;
        run.WorkerAddress = workerAddress?.ToString();
        run.StartedAt ??= now;
        run.AttemptStartedAt = now;
        run.Progress = 0;
        run.StallDeadlineAt = now + run.StallTimeout;
        run.RedispatchAt = null;
        run.UpdatedAt = now;
    }

    /// <summary>The answer to a granted (or re-sent) claim: the lease the run holds now.</summary>
    public RunClaimed Claimed(RunState run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return new RunClaimed
        {
            RunId = run.CorrelationId,
            Attempt = run.Attempt,
            LeaseId = run.LeaseId!.Value,
            LeaseExpiresAt = run.LeaseExpiresAt!.Value,
            LeaseDuration = LeaseDuration,
        };
    }

    /// <summary>A run leased on an offered slot (<see cref="TryLeaseToOfferedSlot"/>), as its worker receives it.</summary>
    public RunAssigned Assigned(RunState run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return new RunAssigned { OfferId = run.ClaimId ?? Guid.Empty, Run = ToExecuteRun(run), Lease = Claimed(run) };
    }

    /// <summary>The answer to a refused claim.</summary>
    public static ClaimRejected ClaimRefused(RunState run, int attempt, string reason)
    {
        ArgumentNullException.ThrowIfNull(run);
        return ClaimRefused(run.CorrelationId, attempt, run.CurrentState, reason);
    }

    /// <summary>The answer to a claim refused without a run to judge it by (state <c>Unknown</c>).</summary>
    public static ClaimRejected ClaimRefused(Guid runId, int attempt, string state, string reason) =>
        new() { RunId = runId, Attempt = attempt, State = state, Reason = reason };

    public static ClaimRejected UnknownRunClaimRejected(Guid runId, int attempt) => ClaimRefused(runId, attempt, "Unknown", "no such run");

    public void RecordSuccess(BehaviorContext<RunState, RunSucceeded> context) => RecordSuccess(context.Saga, context.Message);

    public void RecordSuccess(RunState run, RunSucceeded success)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(success);
        // A late success of the attempt whose lease lapsed ends the run as that attempt, not as the one queued after it.
        if (success.Attempt > 0 && success.Attempt < run.Attempt)
            run.Attempt = success.Attempt;
        run.Output = TruncateTail(success.Output ?? "", Policy.MaxOutputLength);
        ApplyUsage(run, success.Usage);
        ApplyArtifacts(run, success.Artifacts);
        Finish(run);
    }

    public void RecordFailure(BehaviorContext<RunState, RunFailed> context)
    {
        var run = context.Saga;
        var failure = context.Message;
        run.LastError = $"attempt {failure.Attempt} failed: {failure.Error}";
        run.ErrorKind = failure.Kind ?? "failed";
        if (failure.Output is not null)
            run.Output = TruncateTail(failure.Output, Policy.MaxOutputLength);
        ApplyUsage(run, failure.Usage);
        ApplyArtifacts(run, failure.Artifacts);
        run.UpdatedAt = Now;
    }

    public void RecordCancelled(BehaviorContext<RunState, RunCancelled> context)
    {
        var run = context.Saga;
        run.LastError ??= $"cancelled: {context.Message.Reason ?? "stopped by its worker"}";
        run.ErrorKind ??= "cancelled";
        ApplyUsage(run, context.Message.Usage);
        ApplyArtifacts(run, context.Message.Artifacts);
        Finish(run);
    }

    /// <summary><see cref="RunState.ErrorKind"/> of an attempt its worker stopped although nobody asked it to.</summary>
    public const string UnrequestedStopKind = "worker-stopped";

    /// <summary>
    /// A worker reports a running attempt cancelled, but only a cancel request or a timeout sends a stop, and either one
    /// moves the run out of Running first. So nobody asked: a cancel is a user's decision, never a worker's, and the attempt
    /// counts as failed and is retried like one. (Workers report their own lease lapse as a failure; this keeps any other
    /// report of the kind from ending a run.)
    /// </summary>
    public void RecordUnrequestedStop(BehaviorContext<RunState, RunCancelled> context)
    {
        var run = context.Saga;
        run.LastError = $"attempt {run.Attempt} stopped by worker '{context.Message.WorkerId}' without a cancel request: {context.Message.Reason ?? "no reason given"}";
        run.ErrorKind = UnrequestedStopKind;
        ApplyUsage(run, context.Message.Usage);
        ApplyArtifacts(run, context.Message.Artifacts);
        run.UpdatedAt = Now;
    }

    public bool LeaseHasExpired(RunState run) => run.LeaseExpiresAt is { } expiry && expiry <= Now;

    /// <summary><see cref="RunState.ErrorKind"/> of an attempt whose lease lapsed without any result from its worker.</summary>
    public const string LeaseExpiredKind = FailureKinds.LeaseExpired;

    /// <summary>
    /// Whether a success reported under <paramref name="leaseId"/> ends the run: the attempt holds the run's lease (running,
    /// or being stopped for a timeout or a cancel, which it finished first), or it is the attempt whose lease lapsed (its
    /// worker never reported anything else) while no later attempt holds a lease: the work is done, so it is kept instead
    /// of running the agent again. Anything else is a stale or duplicate report.
    /// </summary>
    public static bool AcceptsSuccess(RunState run, Guid leaseId)
    {
        ArgumentNullException.ThrowIfNull(run);
        return run.CurrentState switch
        {
            RunStates.Running or RunStates.TimingOut or RunStates.Cancelling => leaseId == run.LeaseId,
            RunStates.Queued or RunStates.RetryScheduled => run.ErrorKind == LeaseExpiredKind && run.LeaseId is not null && leaseId == run.LeaseId,
            _ => false,
        };
    }

    public void RecordLeaseLost(BehaviorContext<RunState, LeaseExpired> context)
    {
        var run = context.Saga;
        run.LastError = $"attempt {run.Attempt} lost its lease: worker '{run.WorkerId}' stopped renewing it (crashed, hung or cut off)";
        run.ErrorKind = LeaseExpiredKind;
        run.UpdatedAt = Now;
    }

    /// <summary>
    /// Another attempt follows if the failure may pass (neither the agent nor the run's policy calls its kind permanent)
    /// and the budget allows.
    /// </summary>
    public static bool ShouldRetry<T>(BehaviorContext<RunState, T> context)
        where T : class =>
        context.Message is not RunFailed { Retryable: false } && !IsNonRetryableKind(context.Saga) && HasAttemptsLeft(context.Saga);

    static bool HasAttemptsLeft(RunState run) => run.Attempt - run.ReleasedAttempts < run.MaxAttempts;

    static bool IsNonRetryableKind(RunState run) =>
        run is { NonRetryableErrors: { } kinds, ErrorKind: { } kind } && kinds.Split(',').Contains(kind, StringComparer.Ordinal);

    public void ScheduleRetry<T>(BehaviorContext<RunState, T> context)
        where T : class
    {
        var run = context.Saga;
        run.NextAttemptAt = Now + Backoff(run.RetryInitialDelay ?? Policy.RetryBaseDelay, run.Attempt - 1, run.RetryMaxDelay ?? Policy.RetryMaxDelay,
            jitter: true);
        ClearLease(run);
        run.UpdatedAt = Now;
    }

    /// <summary>The timeout that has passed in the run's current state, if any; the whole-run deadline wins a tie.</summary>
    public string? DueTimeout(RunState run)
    {
        var now = Now;
        if (run.RunDeadline <= now)
            return TimeoutKinds.ScheduleToClose;
        return run.CurrentState switch
        {
            RunStates.Queued when run.QueuedAt + run.ScheduleToStartTimeout <= now => TimeoutKinds.ScheduleToStart,
            RunStates.Running when run.AttemptStartedAt + run.StartToCloseTimeout <= now => TimeoutKinds.StartToClose,
            RunStates.Running when run.StallDeadlineAt <= now => TimeoutKinds.Stall,
            _ => null,
        };
    }

    /// <summary>Records which timeout fired and why, in words an operator can act on.</summary>
    public void RecordTimeout(BehaviorContext<RunState, DeadlineElapsed> context)
    {
        var run = context.Saga;
        var kind = DueTimeout(run) ?? TimeoutKinds.ScheduleToClose;
        run.ErrorKind = kind;
        run.LastError = kind switch
        {
            TimeoutKinds.ScheduleToStart =>
                $"attempt {run.Attempt} waited in the queue longer than its schedule-to-start timeout ({run.ScheduleToStartTimeout:c}); no worker started it",
            TimeoutKinds.StartToClose => $"attempt {run.Attempt} ran longer than its start-to-close timeout ({run.StartToCloseTimeout:c})",
            TimeoutKinds.Stall =>
                $"attempt {run.Attempt} made no progress for {run.StallTimeout:c} (stall timeout) while worker '{run.WorkerId}' kept heartbeating",
            _ => $"the run took longer than its schedule-to-close timeout ({run.ScheduleToCloseTimeout:c}) since it was submitted",
        };
        run.UpdatedAt = Now;
    }

    /// <summary>A timed-out attempt is retried if its timeout is the attempt's own (start-to-close, or stall if so configured), attempts remain and the run's deadline has not passed.</summary>
    public bool ShouldRetryTimedOutAttempt<T>(BehaviorContext<RunState, T> context)
        where T : class
    {
        var run = context.Saga;
        var attemptTimeout = run.ErrorKind == TimeoutKinds.StartToClose || (run.ErrorKind == TimeoutKinds.Stall && run.RetryOnStall);
        return attemptTimeout && HasAttemptsLeft(run) && !(run.RunDeadline <= Now);
    }

    /// <summary>The stopped attempt's last usage, whichever event ended it.</summary>
    public void EndTimedOutAttempt<T>(BehaviorContext<RunState, T> context)
        where T : class
    {
        ApplyUsage(context.Saga, context.Message switch
        {
            RunCancelled cancelled => cancelled.Usage,
            RunFailed failed => failed.Usage,
            RunReleased released => released.Usage,
            _ => null,
        });
        context.Saga.UpdatedAt = Now;
    }

    public void FinishTimedOut<T>(BehaviorContext<RunState, T> context)
        where T : class
    {
        var run = context.Saga;
        if (run.ErrorKind is TimeoutKinds.StartToClose or TimeoutKinds.Stall && !HasAttemptsLeft(run))
            run.LastError = $"{run.LastError} (attempt {run.Attempt - run.ReleasedAttempts} of {run.MaxAttempts}; no attempts left)";
        Finish(run);
    }

    public bool RetryIsDue(RunState run) => run.NextAttemptAt is null || run.NextAttemptAt <= Now;

    public void BeginNextAttempt(BehaviorContext<RunState, RetryDelayElapsed> context) => QueueNextAttempt(context.Saga);

    /// <summary>Whether the attempt ended because its lease ran out (seen by the orchestrator's sweeper or the worker's own clock).</summary>
    public static bool LostItsLease<T>(BehaviorContext<RunState, T> context)
        where T : class =>
        context.Saga.ErrorKind == LeaseExpiredKind;

    /// <summary>
    /// The attempt whose lease lapsed is over, and the next one is queued without a backoff: the lease itself was the wait
    /// (as BullMQ moves a stalled job back to the head of its queue). Its success may still arrive late and is then kept
    /// while no later attempt holds a lease (<see cref="AcceptsSuccess"/>), so the lapsed lease id stays on the row.
    /// </summary>
    public void RestartLostAttempt<T>(BehaviorContext<RunState, T> context)
        where T : class
    {
        ClearLease(context.Saga);
        QueueNextAttempt(context.Saga);
    }

    void QueueNextAttempt(RunState run)
    {
        run.Attempt++;
        run.NextAttemptAt = null;
        run.DispatchCount = 0;
        run.QueuedAt = Now;
        run.UpdatedAt = Now;
    }

    public void FinishFailed<T>(BehaviorContext<RunState, T> context)
        where T : class
    {
        var run = context.Saga;
        run.LastError = context.Message is RunFailed { Retryable: false } ? $"{run.LastError} (not retryable)"
            : IsNonRetryableKind(run) ? $"{run.LastError} (not retryable: the run's policy lists '{run.ErrorKind}' in nonRetryableErrors)"
            : $"{run.LastError} (attempt {run.Attempt - run.ReleasedAttempts} of {run.MaxAttempts}; no attempts left)";
        Finish(run);
    }

    public void CancelBeforeStart(BehaviorContext<RunState, CancelRun> context)
    {
        var run = context.Saga;
        run.CancelRequestedAt = Now;
        run.LastError = $"cancelled before it ran: {context.Message.Reason ?? "no reason given"}";
        run.ErrorKind = "cancelled";
        run.NextAttemptAt = null;
        run.RedispatchAt = null;
        Finish(run);
    }

    public void RequestCancel(BehaviorContext<RunState, CancelRun> context)
    {
        var run = context.Saga;
        run.CancelRequestedAt = Now;
        run.LastError = $"cancelled: {context.Message.Reason ?? "no reason given"}";
        run.ErrorKind = "cancelled";
        run.UpdatedAt = Now;
    }

    /// <summary>A draining worker handed the attempt back: the next one starts at once and this one is not counted.</summary>
    public void ReleaseAttempt(BehaviorContext<RunState, RunReleased> context)
    {
        var run = context.Saga;
        RecordHandBack(run, context.Message, run.Attempt, "");
        ClearLease(run);
        QueueNextAttempt(run);
    }

    /// <summary><see cref="RunState.ErrorKind"/> of an attempt its worker handed back: it does not count.</summary>
    public const string ReleasedKind = "released";

    /// <summary>
    /// A hand-back that arrives after its lease lapsed and the next attempt was queued: the lapsed attempt never started (a
    /// hand-over lost on its way, <see cref="Persistence.RunStore.NeverDeliveredReason"/>) or was given back, so it stops
    /// counting, as it would have had the hand-back come first. The queued attempt goes on as it is.
    /// </summary>
    public void RefundLapsedAttempt(BehaviorContext<RunState, RunReleased> context)
    {
        var run = context.Saga;
        RecordHandBack(run, context.Message, context.Message.Attempt, " after its lease had lapsed");
        run.UpdatedAt = Now;
    }

    static void RecordHandBack(RunState run, RunReleased released, int attempt, string when)
    {
        ApplyUsage(run, released.Usage);
        run.LastError = $"attempt {attempt} handed back by worker '{released.WorkerId}'{when}: {released.Reason ?? "released"}";
        run.ErrorKind = ReleasedKind;
        run.ReleasedAttempts++;
    }

    public void FinishCancel<T>(BehaviorContext<RunState, T> context)
        where T : class
    {
        // A failure that ends a cancelled run still says what the attempt left behind.
        if (context.Message is RunFailed failed)
            ApplyArtifacts(context.Saga, failed.Artifacts);
        Finish(context.Saga);
    }

    /// <summary>The queue priority of a dispatch: the run's own, or the restart level after a lost or handed-back attempt.</summary>
    public static int DispatchPriority(RunState run) =>
        run.Attempt > 1 && run.ErrorKind is LeaseExpiredKind or ReleasedKind ? RunQueues.RestartPriority : run.Priority;

    public static ExecuteRun ToExecuteRun(RunState run) => new()
    {
        RunId = run.CorrelationId,
        Attempt = run.Attempt,
        // The dispatch priority, so a worker that puts the dispatch back keeps its place.
        Priority = DispatchPriority(run),
        Input = run.Input,
        Agent = run.AgentSpecJson is null
            ? new AgentSpec { Name = run.Agent, Runtime = run.Runtime }
            : JsonSerializer.Deserialize<AgentSpec>(run.AgentSpecJson, JsonSerializerOptions.Web)!,
    };

    void Finish(RunState run)
    {
        var now = Now;
        run.FinishedAt = now;
        run.UpdatedAt = now;
        run.RedispatchAt = null;
        run.NextAttemptAt = null;
        ClearLease(run);
    }

    /// <summary>The worker and lease stay readable for the record; the expiry goes so no timer fires.</summary>
    static void ClearLease(RunState run) => run.LeaseExpiresAt = null;

    static void ApplyUsage(RunState run, RunUsage? usage)
    {
        if (usage is null)
            return;
        // Totals of the attempt; keep the larger so a late heartbeat never winds counters back.
        run.Steps = Math.Max(run.Steps, usage.Steps);
        run.ToolCalls = Math.Max(run.ToolCalls, usage.ToolCalls);
        run.InputTokens = Math.Max(run.InputTokens, usage.InputTokens);
        run.OutputTokens = Math.Max(run.OutputTokens, usage.OutputTokens);
        run.CostUsd = Math.Max(run.CostUsd, usage.CostUsd);
    }

    /// <summary>An attempt without artifacts (an older worker) leaves the previous attempt's in place.</summary>
    static void ApplyArtifacts(RunState run, RunArtifacts? artifacts)
    {
        if (artifacts is not null)
            run.ArtifactsJson = JsonSerializer.Serialize(artifacts, JsonSerializerOptions.Web);
    }

    /// <summary>base × 2^exponent, capped; with jitter, ±20% so retries of a burst do not land together.</summary>
    internal static TimeSpan Backoff(TimeSpan baseDelay, int exponent, TimeSpan max, bool jitter = false)
    {
        var ticks = baseDelay.Ticks * Math.Pow(2, Math.Clamp(exponent, 0, 30));
        var capped = Math.Min(ticks, max.Ticks);
        if (jitter)
            capped *= 0.8 + (Random.Shared.NextDouble() * 0.4);
        return TimeSpan.FromTicks((long)Math.Min(capped, max.Ticks));
    }

    static string Truncate(string value, int max) => value.Length <= max ? value : value[..max];

    internal static string TruncateTail(string value, int max) =>
        value.Length <= max ? value : "[output truncated; the tail follows]\n" + value[^max..];
}
