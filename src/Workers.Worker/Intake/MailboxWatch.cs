using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Workers.Worker.Intake;

/// <summary>
/// Stops the worker when its mailbox stays down while the broker is reachable (<see cref="WorkerOptions.MailboxDownLimit"/>).
/// MassTransit declares a lost queue again on its own, retrying for as long as the error is one it knows to be passing;
/// after any other error it gives the endpoint up for good. Such a worker lives on uselessly: nothing can hand it a run or
/// answer its claims and heartbeats, so it takes no run and its leases lapse. Stopping lets its runs be handed back and its
/// supervisor start it again with a fresh connection, which declares a fresh mailbox. Time while the broker is out of reach
/// does not count: every endpoint is down then, and the mailbox comes back with the others.
/// </summary>
public sealed partial class MailboxWatch(
    WorkerMailbox mailbox,
    BrokerReach reach,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    IOptions<WorkerOptions> options,
    ILogger<MailboxWatch> logger) : BackgroundService
{
    /// <summary>The process's exit code when it stopped for a stuck mailbox: EX_TEMPFAIL, a failure that a restart may mend.</summary>
    public const int ExitCode = 75;

    /// <summary>How often the mailbox is looked at.</summary>
    static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long the mailbox has been down while the broker was reachable: since the later of its going down and the broker's
    /// coming within reach; null while it is up or the broker is out of reach.
    /// </summary>
    public static TimeSpan? StuckFor(DateTimeOffset? mailboxDownSince, DateTimeOffset? reachableSince, DateTimeOffset now) =>
        mailboxDownSince is { } down && reachableSince is { } reachable
            ? now - (down > reachable ? down : reachable)
            : null;

    /// <summary>Whether the mailbox has been down while the broker was reachable for at least <paramref name="limit"/> by now.</summary>
    public bool IsStuck(TimeSpan limit) =>
        limit > TimeSpan.Zero && StuckFor(mailbox.DownSince, reach.ReachableSince, time.GetUtcNow()) >= limit;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var limit = options.Value.MailboxDownLimit;
        if (limit <= TimeSpan.Zero)
            return;
        try
        {
            using var timer = new PeriodicTimer(CheckInterval, time);
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                if (!IsStuck(limit))
                    continue;
                LogStopping(logger, mailbox.DownSince, limit, ExitCode);
                Environment.ExitCode = ExitCode;
                lifetime.StopApplication();
                return;
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Critical, Message =
        "The worker's mailbox has been down since {DownSince:O} while the broker is reachable (its other queues consume) for " +
        "over {Limit}: MassTransit is not declaring it again, so no run can be handed to this worker and no claim or " +
        "heartbeat answered. Stopping with exit code {ExitCode}, for the worker's supervisor to start it again with a fresh " +
        "connection. Workers:Worker:MailboxDownLimit sets the wait (0: never stop)")]
    static partial void LogStopping(ILogger logger, DateTimeOffset? downSince, TimeSpan limit, int exitCode);
}
