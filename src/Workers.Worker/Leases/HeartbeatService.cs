using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Workers.Contracts;
using Workers.Worker.Execution;

namespace Workers.Worker.Leases;

/// <summary>
/// Renews all of this worker's leases with one message per interval and enforces fencing: a run whose lease the
/// orchestrator reports lost, or whose lease this worker's own clock sees lapse, is stopped at once. Also listens
/// for <see cref="StopRun"/> (cancellation).
/// </summary>
sealed partial class HeartbeatService(
    IBus bus,
    IRequestClient<WorkerHeartbeat> heartbeats,
    LeaseTable leases,
    SlotPool slots,
    DrainState drain,
    RuntimeOffer runtimes,
    WorkerIdentity identity,
    IOptions<WorkerOptions> options,
    ILogger<HeartbeatService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var stopHandle = bus.ConnectHandler<StopRun>(context =>
        {
            if (leases.TryGet(context.Message.RunId, out var run) && run.LeaseId == context.Message.LeaseId)
            {
                LogStopRequested(logger, run.RunId, context.Message.Reason);
                run.Stop(StopCause.Orchestrator, context.Message.Reason);
            }
            return Task.CompletedTask;
        });
        try
        {
            using var timer = new PeriodicTimer(options.Value.HeartbeatInterval);
            do
            {
                EnforceLeaseClocks();
                await BeatAsync(stoppingToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            stopHandle.Disconnect();
        }
    }

    void EnforceLeaseClocks()
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var run in leases.Snapshot().Where(r => !r.AgentEnded && r.LeaseExpired(now)))
        {
            LogLeaseLapsed(logger, run.RunId);
            run.Stop(StopCause.LeaseLapsed, LapsedReason);
        }
    }

    /// <summary>Why a run stopped by its own lease clock stopped.</summary>
    public const string LapsedReason =
        "its lease lapsed on the worker's clock: the orchestrator did not answer its claim or renewal in time (busy or unreachable)";

    async Task BeatAsync(CancellationToken stoppingToken)
    {
        var held = leases.Snapshot();
        var askedAt = Stopwatch.GetTimestamp();
        var heartbeat = new WorkerHeartbeat
        {
            WorkerId = identity.WorkerId,
            HostName = identity.HostName,
            Runtimes = runtimes.Offered.Keys.ToList(),
            Unavailable = runtimes.Unavailable
                .Select(u => new UnavailableRuntime { Runtime = u.Key, Problem = u.Value.Problem ?? "prerequisite missing", HelpUrl = u.Value.HelpUrl })
                .ToList(),
            Slots = slots.Size,
            StartedAt = identity.StartedAt,
            Draining = drain.IsDraining,
            Leases = held.Select(r => r.ToHeldLease()).ToList(),
        };
        try
        {
            // Up to two intervals: a busy orchestrator renewing many leases may answer late, and a late answer still extends
            // the leases (the worker's lease clock runs from when it asked).
            var timeout = RequestTimeout.After(ms: (int)Math.Max(2000, 2 * options.Value.HeartbeatInterval.TotalMilliseconds));
            var response = await heartbeats.GetResponse<LeasesRenewed>(heartbeat, stoppingToken, timeout).ConfigureAwait(false);
            var lost = response.Message.Lost.ToDictionary(l => l.RunId, l => l.Reason);
            // Runs that finished while the heartbeat was in flight are gone from the table: nothing to stop.
            foreach (var run in held.Where(r => leases.TryGet(r.RunId, out var current) && current == r))
            {
                if (lost.TryGetValue(run.RunId, out var reason))
                {
                    LogLeaseLost(logger, run.RunId, reason);
                    run.Stop(StopCause.Orchestrator, reason);
                }
                else
                {
                    run.ExtendLease(askedAt, response.Message.LeaseDuration);
                }
            }
        }
        catch (RequestTimeoutException)
        {
            LogHeartbeatUnanswered(logger, held.Count);
        }
        catch (RequestFaultException ex)
        {
            LogHeartbeatFaulted(logger, ex.Message);
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Stopping run {RunId}: {Reason}")]
    static partial void LogStopRequested(ILogger logger, Guid runId, string reason);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Stopping run {RunId}: its lease lapsed on this worker's clock")]
    static partial void LogLeaseLapsed(ILogger logger, Guid runId);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Stopping run {RunId}: lease lost ({Reason})")]
    static partial void LogLeaseLost(ILogger logger, Guid runId, string reason);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Heartbeat for {Count} lease(s) got no answer in time")]
    static partial void LogHeartbeatUnanswered(ILogger logger, int count);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Heartbeat failed at the orchestrator: {Error}")]
    static partial void LogHeartbeatFaulted(ILogger logger, string error);
}
