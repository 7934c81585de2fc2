using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Workers.Contracts;
using Workers.Runs.Persistence;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Runs.Leases;

/// <summary>
/// Renews every lease a worker's heartbeat lists, in one transaction, outside the saga: one message per worker
/// per interval whatever the number of runs. The reply names the leases the worker no longer holds. Runs handed over on
/// offers the worker gave up with a lost mailbox, which never reached it, are handed back for it: they restart without
/// spending the attempt.
/// </summary>
public sealed partial class LeaseRenewalConsumer(RunStore store, TimeProvider time, IOptions<RunOptions> options, ILogger<LeaseRenewalConsumer> logger)
    : IConsumer<WorkerHeartbeat>
{
    public async Task Consume(ConsumeContext<WorkerHeartbeat> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var now = time.GetUtcNow();
        var expiresAt = now + options.Value.LeaseDuration;
        var renewal = await store.RenewLeasesAsync(context.Message, now, expiresAt, context.CancellationToken).ConfigureAwait(false);
        foreach (var release in renewal.NeverDelivered)
        {
            LogNeverDelivered(logger, release.RunId, release.Attempt, release.WorkerId);
            await context.Publish(release, context.CancellationToken).ConfigureAwait(false);
        }
        if (context.ResponseAddress is not null)
        {
            await WorkerMailboxes.RespondAsync(context,
                new LeasesRenewed { WorkerId = context.Message.WorkerId, ExpiresAt = expiresAt, LeaseDuration = options.Value.LeaseDuration, Lost = renewal.Lost })
                .ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning,
        Message = "Run {RunId} attempt {Attempt} never reached worker {WorkerId} (lost with its mailbox); handed back, to restart without spending the attempt")]
    static partial void LogNeverDelivered(ILogger logger, Guid runId, int attempt, string workerId);
}
