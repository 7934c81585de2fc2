using MassTransit;
using Microsoft.Extensions.Options;
using Workers.Contracts;
using Workers.ServiceDefaults.Messaging;
using Workers.Worker.Execution;

namespace Workers.Worker.Intake;

/// <summary>
/// Takes dispatches off a runtime's priority queue, one at a time (prefetch 1), only as slots free up: a dispatch
/// is acknowledged as soon as it has a slot, so no delivery is held for the length of a run (RabbitMQ's consumer
/// timeout) and at most one waits per queue, which keeps priority honest.
/// </summary>
public sealed class RunDispatchConsumer(SlotPool slots, RunExecutor executor, DrainState drain, HeldDispatches held, SlotOfferer offerer,
    WorkerMailbox mailbox, IOptions<WorkerOptions> options)
    : IConsumer<ExecuteRun>
{
    /// <summary>
    /// How long a draining worker keeps a delivery before putting it back: long enough not to spin on a busy queue,
    /// short enough that stopping the bus (which waits for consumers) is not held up.
    /// </summary>
    static readonly TimeSpan DrainingHold = TimeSpan.FromSeconds(1);

    public async Task Consume(ConsumeContext<ExecuteRun> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, drain.Token);
        // A restart queued behind this dispatch cancels the wait: the dispatch is put back and the restart comes next.
        using (held.Hold(context.Message.Agent.Runtime, context.Message.Priority, wait))
        {
            if (await TryTakeSlotAsync(wait.Token).ConfigureAwait(false))
            {
                // The drain may have begun while this delivery waited: a worker shutting down starts nothing new. And the claim
                // is answered through the mailbox: while that is down (the broker connection being recovered), a granted claim
                // would never arrive and its lease would lapse, spending an attempt; the dispatch waits for it or goes back.
                if (!drain.IsDraining && await MailboxUpAsync(wait.Token).ConfigureAwait(false))
                {
                    executor.Start(context.Message);
                    return;
                }
                slots.Release();
            }
        }

        if (drain.IsDraining && !context.CancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(DrainingHold, context.CancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        await PutBackAsync(context).ConfigureAwait(false);
    }

    async Task<bool> MailboxUpAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await mailbox.WaitReadyAsync(options.Value.SlotWaitTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    async Task<bool> TryTakeSlotAsync(CancellationToken cancellationToken)
    {
        if (slots.TryTake())
            return true;
        // Every slot is busy or held for an offer: this worker is the bottleneck, so it makes no new offer for a while.
        offerer.DispatchWaiting();
        try
        {
            return await slots.TryTakeAsync(options.Value.SlotWaitTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>
    /// Re-sends the dispatch (same priority) and lets this delivery be acknowledged: it goes behind the messages of its
    /// priority instead of being held unacknowledged. The exchange address, not the queue's, keeps the queue's arguments intact.
    /// </summary>
    static async Task PutBackAsync(ConsumeContext<ExecuteRun> context)
    {
        var endpoint = await context.GetSendEndpoint(RunQueues.DispatchAddress(context.Message.Agent.Runtime)).ConfigureAwait(false);
        await endpoint.Send(context.Message, send => send.TrySetPriority((byte)context.Message.Priority), CancellationToken.None).ConfigureAwait(false);
    }
}
