using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Workers.Agents.Runtimes;
using Workers.Contracts;
using Workers.ServiceDefaults.FaultInjection;
using Workers.ServiceDefaults.Messaging;
using Workers.Worker.Activity;
using Workers.Worker.Intake;
using Workers.Worker.Leases;
using Workers.Worker.Workspaces;

namespace Workers.Worker.Execution;

/// <summary>
/// Runs one dispatched attempt in a slot: claim the lease, run the adapter in a fresh workspace, report the
/// outcome with the lease id. Nothing runs without a granted lease, so a duplicate dispatch is harmless.
/// </summary>
public sealed partial class RunExecutor(
    ClaimBatcher claims,
    ResultReporter results,
    MailboxRequestClients requests,
    ActivityReporter activity,
    RuntimeOffer runtimes,
    LeaseTable leases,
    SlotPool slots,
    RunWorkspaces workspaces,
    WorkerIdentity identity,
    TimeProvider time,
    IOptions<FaultInjectionOptions> faults,
    ILogger<RunExecutor> logger)
{
    readonly TaskTracker _inFlight = new();

    /// <summary>Runs in flight, for drain on shutdown.</summary>
    public Task WhenIdle() => _inFlight.WhenIdle();

    /// <summary>Attempts in flight, counted from the claim request on (before the lease is known).</summary>
    public int InFlight => _inFlight.Count;

    /// <summary>Claims the dispatched attempt and runs it in the background. The caller has taken a slot; it is released when the attempt ends.</summary>
    public void Start(ExecuteRun dispatch) => _inFlight.Track(Task.Run(() => ExecuteAsync(dispatch, () => ClaimAsync(dispatch))));

    /// <summary>
    /// Runs an attempt already leased to this worker (<see cref="RunAssigned"/>) in the background. Its lease clock starts at
    /// <paramref name="askedAtTimestamp"/>, when the offer it was assigned on was sent: never later than the orchestrator's.
    /// The caller has taken a slot; it is released when the attempt ends.
    /// </summary>
    public void StartLeased(ExecuteRun dispatch, RunClaimed lease, long askedAtTimestamp)
    {
        ArgumentNullException.ThrowIfNull(lease);
        _inFlight.Track(Task.Run(() => ExecuteAsync(dispatch, () =>
        {
            LogAssigned(logger, dispatch.RunId, dispatch.Attempt, lease.LeaseId);
            return Task.FromResult<ActiveRun?>(new ActiveRun(dispatch.RunId, dispatch.Attempt, lease.LeaseId, askedAtTimestamp, lease.LeaseDuration, time, activity.Wake));
        })));
    }

    async Task ExecuteAsync(ExecuteRun dispatch, Func<Task<ActiveRun?>> lease)
    {
        var slot = new HeldSlot(slots);
        try
        {
            var claimed = await lease().ConfigureAwait(false);
            if (claimed is null)
                return;
            using var run = claimed;
            if (faults.Value.CrashAfterClaimWhenInputContains is { Length: > 0 } marker && dispatch.Input.Contains(marker, StringComparison.Ordinal))
                FaultInjectionOptions.Crash($"claimed run {dispatch.RunId} attempt {dispatch.Attempt}, whose input contains '{marker}'");
            leases.Add(run);
            // A grant answered after the lease had already lapsed on this worker's clock (the orchestrator took longer than a
            // lease to judge the claim) must not start the agent: the orchestrator's clock may run out any moment now.
            if (run.LeaseExpired(Stopwatch.GetTimestamp()))
            {
                LogGrantedTooLate(logger, dispatch.RunId, dispatch.Attempt);
                run.Stop(StopCause.LeaseLapsed, LeaseWatchdog.LapsedReason);
            }
            try
            {
                await RunAttemptAsync(dispatch, run, slot).ConfigureAwait(false);
            }
            finally
            {
                leases.Remove(run);
            }
        }
#pragma warning disable CA1031 // One failed run must never take the worker down; the lease then expires and the run is retried.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogRunCrashed(logger, dispatch.RunId, dispatch.Attempt, ex);
        }
        finally
        {
            slot.Release();
        }
    }

    async Task<ActiveRun?> ClaimAsync(ExecuteRun dispatch)
    {
        // The lease clock starts when the claim is asked for, before it is sent: never later than the orchestrator's.
        var askedAt = Stopwatch.GetTimestamp();
        var answer = await claims.ClaimAsync(dispatch.RunId, dispatch.Attempt).ConfigureAwait(false);
        if (answer.Granted is { } granted)
        {
            LogClaimed(logger, dispatch.RunId, dispatch.Attempt, granted.LeaseId);
            return new ActiveRun(dispatch.RunId, dispatch.Attempt, granted.LeaseId, askedAt, granted.LeaseDuration, time, activity.Wake);
        }
        if (answer.Rejected is { } rejected)
            LogClaimRejected(logger, dispatch.RunId, dispatch.Attempt, rejected.State, rejected.Reason);
        else
            // The run stays queued; the orchestrator's re-dispatch timer sends it again.
            LogClaimTimedOut(logger, dispatch.RunId, dispatch.Attempt);
        return null;
    }

    async Task RunAttemptAsync(ExecuteRun dispatch, ActiveRun run, HeldSlot slot)
    {
        // Not linked to ApplicationStopping: on shutdown the drain lets runs finish within the grace period and then
        // stops the rest itself (with a reason), so they are handed back instead of abandoned.
        AgentOutcome outcome;
        RunArtifacts? artifacts;
        // Disposing deletes the workspace (unless Workers:Worker:KeepWorkspaces), before the result is reported.
        await using (var workspace = await workspaces.OpenAsync(dispatch, run.StopToken).ConfigureAwait(false))
        {
            if (workspace.EarlyOutcome is { } early)
            {
                outcome = early;
            }
            else if (!runtimes.Offered.TryGetValue(dispatch.Agent.Runtime, out var runtime))
            {
                outcome = new AgentOutcome.Failed($"runtime '{dispatch.Agent.Runtime}' is not offered by worker '{identity.WorkerId}' " +
                    $"(it offers: {string.Join(", ", runtimes.Offered.Keys)})", "runtime-unavailable", Retryable: true);
            }
            else
            {
                var resumeFrom = runtime.SupportsCheckpoints && dispatch.Attempt > 1 ? await LastCheckpointAsync(run).ConfigureAwait(false) : null;
                var invocation = new AgentInvocation(dispatch.RunId, dispatch.Attempt, dispatch.Input, dispatch.Agent, workspace.Directory, resumeFrom)
                {
                    Abort = run.AbortToken,
                };
                outcome = await runtime.RunAsync(invocation, workspace.Record(run), run.StopToken).ConfigureAwait(false);
            }
            artifacts = await workspace.CollectAsync(outcome).ConfigureAwait(false);
        }

        // A slot bounds the agents running at once. This one's agent and workspace are done; what is left is to report, which
        // under load waits for the answer to the claim request the result rides in (ClaimBatcher): a round trip through the
        // orchestrator that must not keep the next run from starting. The attempt stays in flight (drain) and in the lease
        // table (heartbeats) until the broker has its result.
        slot.Release();
        run.MarkAgentEnded();
        // The event log first, so it is complete by the time the run shows as finished.
        await activity.FlushAsync(run).ConfigureAwait(false);
        // The run stays in the lease table until the broker has the result, so heartbeats keep its lease alive meanwhile.
        await results.ReportAsync(RunResultArtifacts.With(ToEvent(dispatch, run, outcome), artifacts)).ConfigureAwait(false);
        LogFinished(logger, dispatch.RunId, dispatch.Attempt, outcome.GetType().Name);
    }

    /// <summary>
    /// The checkpoint an earlier attempt saved, so the runtime resumes instead of starting over. Without an answer the
    /// attempt starts from the beginning: slower, never wrong.
    /// </summary>
    async Task<AgentCheckpoint?> LastCheckpointAsync(ActiveRun run)
    {
        try
        {
            var checkpoints = await requests.GetAsync<GetRunCheckpoint>(run.StopToken).ConfigureAwait(false);
            var answer = await checkpoints.GetResponse<RunCheckpointAnswer>(new GetRunCheckpoint { RunId = run.RunId, LeaseId = run.LeaseId },
                run.StopToken, RequestTimeout.After(s: 10)).ConfigureAwait(false);
            return answer.Message.Checkpoint is { } c ? new AgentCheckpoint(c.Attempt, c.Step, c.State) : null;
        }
        catch (RequestTimeoutException)
        {
            LogCheckpointUnavailable(logger, run.RunId, "no answer in time");
        }
        catch (OperationCanceledException) when (run.StopToken.IsCancellationRequested)
        {
        }
#pragma warning disable CA1031 // Faulted at the orchestrator, or not sent at all (connection closing): start from the beginning.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogCheckpointUnavailable(logger, run.RunId, ex.InnerException?.Message ?? ex.Message);
        }
        return null;
    }

    object ToEvent(ExecuteRun dispatch, ActiveRun run, AgentOutcome outcome)
    {
        var now = time.GetUtcNow();
        return outcome switch
        {
            AgentOutcome.Succeeded s => new RunSucceeded
            {
                RunId = dispatch.RunId,
                Attempt = dispatch.Attempt,
                LeaseId = run.LeaseId,
                WorkerId = identity.WorkerId,
                Output = s.Output,
                Usage = run.Usage,
                FinishedAt = now,
            },
            AgentOutcome.Failed f => new RunFailed
            {
                RunId = dispatch.RunId,
                Attempt = dispatch.Attempt,
                LeaseId = run.LeaseId,
                WorkerId = identity.WorkerId,
                Error = f.Error,
                Kind = f.Kind,
                Retryable = f.Retryable,
                Output = f.Output,
                Usage = run.Usage,
                FinishedAt = now,
            },
            AgentOutcome.Cancelled when run.Stopped is { Cause: StopCause.Shutdown } stop => new RunReleased
            {
                RunId = dispatch.RunId,
                Attempt = dispatch.Attempt,
                LeaseId = run.LeaseId,
                WorkerId = identity.WorkerId,
                Reason = stop.Reason,
                Usage = run.Usage,
            },
            AgentOutcome.Cancelled cancelled when run.Stopped is { Cause: StopCause.LeaseLapsed } stop => new RunFailed
            {
                RunId = dispatch.RunId,
                Attempt = dispatch.Attempt,
                LeaseId = run.LeaseId,
                WorkerId = identity.WorkerId,
                Error = $"stopped by worker '{identity.WorkerId}': {stop.Reason}",
                Kind = FailureKinds.LeaseExpired,
                Retryable = true,
                Output = cancelled.Output,
                Usage = run.Usage,
                FinishedAt = now,
            },
            _ => new RunCancelled
            {
                RunId = dispatch.RunId,
                Attempt = dispatch.Attempt,
                LeaseId = run.LeaseId,
                WorkerId = identity.WorkerId,
                Reason = run.Stopped?.Reason ?? "stopped",
                Usage = run.Usage,
                FinishedAt = now,
            },
        };
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "Claimed run {RunId} attempt {Attempt} (lease {LeaseId})")]
    static partial void LogClaimed(ILogger logger, Guid runId, int attempt, Guid leaseId);

    [LoggerMessage(EventId = 8, Level = LogLevel.Debug, Message = "Run {RunId} attempt {Attempt} assigned on an offered slot (lease {LeaseId})")]
    static partial void LogAssigned(ILogger logger, Guid runId, int attempt, Guid leaseId);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Claim of run {RunId} attempt {Attempt} refused ({State}): {Reason}")]
    static partial void LogClaimRejected(ILogger logger, Guid runId, int attempt, string state, string reason);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Claim of run {RunId} attempt {Attempt} got no answer; it will be dispatched again")]
    static partial void LogClaimTimedOut(ILogger logger, Guid runId, int attempt);

    [LoggerMessage(EventId = 4, Level = LogLevel.Debug, Message = "Run {RunId} attempt {Attempt} finished: {Outcome}")]
    static partial void LogFinished(ILogger logger, Guid runId, int attempt, string outcome);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning,
        Message = "Run {RunId} attempt {Attempt} not started: its claim was granted after the lease had lapsed on this worker's clock; reported for a retry")]
    static partial void LogGrantedTooLate(ILogger logger, Guid runId, int attempt);

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "Run {RunId} starts over: its last checkpoint could not be fetched ({Error})")]
    static partial void LogCheckpointUnavailable(ILogger logger, Guid runId, string error);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "Run {RunId} attempt {Attempt} crashed in the worker; its lease will lapse and it will be retried")]
    static partial void LogRunCrashed(ILogger logger, Guid runId, int attempt, Exception exception);

    /// <summary>The slot an attempt runs in, given back once: when its agent is done, or at the latest when the attempt ends.</summary>
    sealed class HeldSlot(SlotPool slots)
    {
        int _released;

        public void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
                slots.Release();
        }
    }
}
