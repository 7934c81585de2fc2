using MassTransit;
using Microsoft.Extensions.Options;
using Workers.Contracts;
using Workers.Runs.Persistence;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Runs.Leases;

/// <summary>
/// Renews every lease a worker's heartbeat lists, in one transaction, outside the saga: one message per worker
/// per interval whatever the number of runs. The reply names the leases the worker no longer holds.
/// </summary>
public sealed class LeaseRenewalConsumer(RunStore store, TimeProvider time, IOptions<RunOptions> options) : IConsumer<WorkerHeartbeat>
{
    public async Task Consume(ConsumeContext<WorkerHeartbeat> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var now = time.GetUtcNow();
        var expiresAt = now + options.Value.LeaseDuration;
        var lost = await store.RenewLeasesAsync(context.Message, now, expiresAt, context.CancellationToken).ConfigureAwait(false);
        if (context.ResponseAddress is not null)
            await WorkerMailboxes.RespondAsync(context, new LeasesRenewed { WorkerId = context.Message.WorkerId, ExpiresAt = expiresAt, LeaseDuration = options.Value.LeaseDuration, Lost = lost }).ConfigureAwait(false);
    }
}
