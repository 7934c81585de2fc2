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
    /// <summary>How much longer than its answer's timeout a heartbeat is waited for before it is taken to be stuck in its send.</summary>
    static readonly TimeSpan SendGrace = TimeSpan.FromMilliseconds(500);

    // A heartbeat whose send MassTransit is still retrying, and when it was started: no other is sent until it is done.
    Task? _stuck;
    long _stuckSince;

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
        if (_stuck is { IsCompleted: false })
        {
            var stuckFor = Stopwatch.GetElapsedTime(_stuckSince);
            LogHeartbeatStillStuck(logger, stuckFor);
            return;
        }
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
        // Up to two intervals: a busy orchestrator renewing many leases may answer late, and a late answer still extends
        // the leases (the worker's lease clock runs from when it asked).
        var patience = TimeSpan.FromMilliseconds(Math.Max(2000, 2 * options.Value.HeartbeatInterval.TotalMilliseconds));
        try
        {
            var heartbeats = await requests.GetAsync<WorkerHeartbeat>(stoppingToken).ConfigureAwait(false);
            var request = heartbeats.GetResponse<LeasesRenewed>(heartbeat, stoppingToken, RequestTimeout.After(ms: (int)patience.TotalMilliseconds));
            Response<LeasesRenewed> response;
            try
            {
                // MassTransit's request completes only once its send has: a send it keeps retrying (the broker closing the
                // channel on every publish, say by refusing it) outlasts the answer's timeout and any cancellation.
                response = await request.WaitAsync(patience + SendGrace, stoppingToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _stuck = request;
                _stuckSince = askedAt;
                _ = request.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                    TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                LogHeartbeatStuck(logger, held.Count, patience + SendGrace);
                return;
            }
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

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message =
        "Heartbeat for {Count} lease(s) neither answered nor timed out within {Patience}: its send is being retried (the broker " +
        "is not taking it; see MassTransit's S-FAULT lines). No other heartbeat is sent until it is done")]
    static partial void LogHeartbeatStuck(ILogger logger, int count, TimeSpan patience);

    [LoggerMessage(EventId = 8, Level = LogLevel.Warning, Message = "Heartbeat skipped: the one started {StuckFor} ago is still being sent")]
    static partial void LogHeartbeatStillStuck(ILogger logger, TimeSpan stuckFor);
}
