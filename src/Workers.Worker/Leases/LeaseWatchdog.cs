using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Workers.Worker.Leases;

/// <summary>
/// Holds this worker to its own lease clocks: a run whose lease lapses is stopped at its deadline, and aborted (its agent
/// killed without a grace period), because from then on the orchestrator may grant the run to another worker. It keeps
/// its own timer, so a heartbeat waiting for an answer that is not coming (a worker cut off from the broker waits up to
/// two heartbeat intervals) never delays it.
/// </summary>
sealed partial class LeaseWatchdog(LeaseTable leases, ILogger<LeaseWatchdog> logger) : BackgroundService
{
    /// <summary>Why a run stopped by its own lease clock stopped.</summary>
    public const string LapsedReason =
        "its lease lapsed on the worker's clock: the orchestrator did not answer its claim or renewal in time (busy or unreachable)";

    /// <summary>The longest sleep with leases held; deadlines only move later (renewals) or arrive with a new lease (which wakes it).</summary>
    static readonly TimeSpan MaxSleep = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            // Taken before the scan, so a lease added during it wakes the next wait.
            var added = leases.NextAdd;
            var now = Stopwatch.GetTimestamp();
            var next = EnforceAt(now);
            var sleep = next is { } deadline ? Until(deadline, now) : Timeout.InfiniteTimeSpan;
            try
            {
                await added.WaitAsync(sleep, stoppingToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // A deadline came due.
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>The wait until <paramref name="deadline"/> (a millisecond past it, so it is due on waking), at most <see cref="MaxSleep"/>.</summary>
    static TimeSpan Until(long deadline, long now) =>
        TimeSpan.FromSeconds(Math.Min(MaxSleep.TotalSeconds, (Math.Max(0, deadline - now) / (double)Stopwatch.Frequency) + 0.001));

    /// <summary>Aborts every run whose lease has lapsed at <paramref name="now"/>; returns the next deadline of the others.</summary>
    internal long? EnforceAt(long now)
    {
        long? next = null;
        foreach (var run in leases.Snapshot())
        {
            // Once the agent has ended only its result is left to report; an aborted run is being killed already.
            if (run.AgentEnded || run.Aborted)
                continue;
            if (run.LeaseExpired(now))
            {
                LogLeaseLapsed(logger, run.RunId, run.Attempt);
                run.Stop(StopCause.LeaseLapsed, LapsedReason);
            }
            else if (next is null || run.LeaseDeadline < next)
            {
                next = run.LeaseDeadline;
            }
        }
        return next;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Aborting run {RunId} attempt {Attempt}: its lease lapsed on this worker's clock")]
    static partial void LogLeaseLapsed(ILogger logger, Guid runId, int attempt);
}
