using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.Options;
using Workers.Contracts;
using Workers.Runs.Admission;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Runs.StateMachine;

/// <summary>
/// What each transition does to the run row. Kept apart from the state table so the table stays readable and
/// the arithmetic (backoff, lease expiry, truncation) is testable on its own. Time comes from <see cref="TimeProvider"/>.
/// </summary>
public sealed class RunLifecycle(RunAdmission admission, TimeProvider time, IOptions<RunOptions> options)
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
        run.MaxAttempts = result.MaxAttempts;
        run.AgentSpecJson = result.SpecJson;
        run.Attempt = 1;
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

    public void GrantLease(BehaviorContext<RunState, ClaimRun> context)
    {
        var run = context.Saga;
        var now = Now;
        run.LeaseId = NewId.NextGuid();
        run.LeaseExpiresAt = now + Policy.LeaseDuration;
        run.ClaimId = context.Message.ClaimId;
        run.WorkerId = context.Message.WorkerId;
        run.WorkerAddress = context.Message.WorkerAddress?.ToString();
        run.StartedAt ??= now;
        run.RedispatchAt = null;
        run.UpdatedAt = now;
    }

    public void RecordSuccess(BehaviorContext<RunState, RunSucceeded> context)
    {
        var run = context.Saga;
        run.Output = TruncateTail(context.Message.Output, Policy.MaxOutputLength);
        ApplyUsage(run, context.Message.Usage);
        ApplyArtifacts(run, context.Message.Artifacts);
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

    public bool LeaseHasExpired(RunState run) => run.LeaseExpiresAt is { } expiry && expiry <= Now;

    /// <summary><see cref="RunState.ErrorKind"/> of an attempt whose lease lapsed without any result from its worker.</summary>
    public const string LeaseExpiredKind = "lease-expired";

    /// <summary>
    /// A success reported for the attempt whose lease lapsed (its worker never reported anything else), while no later
    /// attempt holds a lease: the work is done, so it is kept instead of running the agent again.
    /// </summary>
    public static bool IsLateSuccessOfLostLease(BehaviorContext<RunState, RunSucceeded> context) =>
        context.Saga.ErrorKind == LeaseExpiredKind && context.Saga.LeaseId is not null && context.Message.LeaseId == context.Saga.LeaseId;

    public void RecordLeaseLost(BehaviorContext<RunState, LeaseExpired> context)
    {
        var run = context.Saga;
        run.LastError = $"attempt {run.Attempt} lost its lease: worker '{run.WorkerId}' stopped renewing it (crashed, hung or cut off)";
        run.ErrorKind = LeaseExpiredKind;
        run.UpdatedAt = Now;
    }

    /// <summary>Another attempt follows if the failure may pass (the agent did not call it permanent) and the budget allows.</summary>
    public static bool ShouldRetry<T>(BehaviorContext<RunState, T> context)
        where T : class =>
        context.Message is not RunFailed { Retryable: false } && context.Saga.Attempt - context.Saga.ReleasedAttempts < context.Saga.MaxAttempts;

    public void ScheduleRetry<T>(BehaviorContext<RunState, T> context)
        where T : class
    {
        var run = context.Saga;
        run.NextAttemptAt = Now + Backoff(Policy.RetryBaseDelay, run.Attempt - 1, Policy.RetryMaxDelay, jitter: true);
        ClearLease(run);
        run.UpdatedAt = Now;
    }

    public bool RetryIsDue(RunState run) => run.NextAttemptAt is null || run.NextAttemptAt <= Now;

    public void BeginNextAttempt(BehaviorContext<RunState, RetryDelayElapsed> context)
    {
        var run = context.Saga;
        run.Attempt++;
        run.NextAttemptAt = null;
        run.DispatchCount = 0;
        run.UpdatedAt = Now;
    }

    public void FinishFailed<T>(BehaviorContext<RunState, T> context)
        where T : class
    {
        var run = context.Saga;
        run.LastError = context.Message is RunFailed { Retryable: false }
            ? $"{run.LastError} (not retryable)"
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
        ApplyUsage(run, context.Message.Usage);
        run.LastError = $"attempt {run.Attempt} handed back by worker '{context.Message.WorkerId}': {context.Message.Reason ?? "released"}";
        run.ErrorKind = "released";
        run.ReleasedAttempts++;
        run.Attempt++;
        run.DispatchCount = 0;
        ClearLease(run);
        run.UpdatedAt = Now;
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
        run.Attempt > 1 && run.ErrorKind is LeaseExpiredKind or "released" ? RunQueues.RestartPriority : run.Priority;

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

    public static ClaimRejected UnknownRunClaimRejected(ClaimRun claim) => new()
    {
        RunId = claim.RunId,
        Attempt = claim.Attempt,
        State = "Unknown",
        Reason = "no such run",
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
