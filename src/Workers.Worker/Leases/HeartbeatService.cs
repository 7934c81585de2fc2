using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Workers.Contracts;
using Workers.Worker.Execution;
using Workers.Worker.Intake;

namespace Workers.Worker.Leases;

/// <summary>
/// Renews all of this worker's leases with one message per interval and enforces fencing: a run whose lease the
/// orchestrator reports lost is stopped at once (the <see cref="LeaseWatchdog"/> stops those whose lease lapses on this
/// worker's own clock).
/// </summary>
sealed partial class HeartbeatService(
    MailboxRequestClients requests,
    LeaseTable leases,
    SlotOfferer offerer,
    WorkerMailbox mailbox,
    SlotPool slots,
    DrainState drain,
    RuntimeOffer runtimes,
    WorkerIdentity identity,
    IOptions<WorkerOptions> options,
    ILogger<HeartbeatService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            using var timer = new PeriodicTimer(options.Value.HeartbeatInterval);
            do
            {
                await BeatAsync(stoppingToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

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
            MailboxDownSince = mailbox.DownSince,
            Leases = held.Select(r => r.ToHeldLease()).ToList(),
            ForgottenOffers = offerer.ForgottenOffers(),
        };
        try
        {
            // Up to two intervals: a busy orchestrator renewing many leases may answer late, and a late answer still extends
            // the leases (the worker's lease clock runs from when it asked).
            var timeout = RequestTimeout.After(ms: (int)Math.Max(2000, 2 * options.Value.HeartbeatInterval.TotalMilliseconds));
            var heartbeats = await requests.GetAsync<WorkerHeartbeat>(stoppingToken).ConfigureAwait(false);
            var response = await heartbeats.GetResponse<LeasesRenewed>(heartbeat, stoppingToken, timeout).ConfigureAwait(false);
            var lost = response.Message.Lost.ToDictionary(l => l.RunId);
            // Runs that finished while the heartbeat was in flight are gone from the table: nothing to stop.
            foreach (var run in held.Where(r => leases.TryGet(r.RunId, out var current) && current == r))
            {
                if (lost.TryGetValue(run.RunId, out var lease))
                {
                    LogLeaseLost(logger, run.RunId, lease.Reason);
                    run.Stop(StopCause.Orchestrator, lease.Reason, abort: !lease.Graceful);
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
#pragma warning disable CA1031 // A heartbeat that could not be sent (connection closing, channel refused) is sent again next interval.
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
#pragma warning restore CA1031
        {
            // Thrown out of the loop, it would stop the whole worker. The worker's own lease clock stops the runs whose leases
            // go unrenewed meanwhile (LeaseWatchdog).
            LogHeartbeatNotSent(logger, held.Count, ex.InnerException?.Message ?? ex.Message);
        }
    }

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Stopping run {RunId}: lease lost ({Reason})")]
    static partial void LogLeaseLost(ILogger logger, Guid runId, string reason);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Heartbeat for {Count} lease(s) got no answer in time")]
    static partial void LogHeartbeatUnanswered(ILogger logger, int count);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Heartbeat failed at the orchestrator: {Error}")]
    static partial void LogHeartbeatFaulted(ILogger logger, string error);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "Heartbeat for {Count} lease(s) could not be sent: {Error}")]
    static partial void LogHeartbeatNotSent(ILogger logger, int count, string error);
}
