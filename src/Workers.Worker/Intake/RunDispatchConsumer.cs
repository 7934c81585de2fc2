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
public sealed class RunDispatchConsumer(SlotPool slots, RunExecutor executor, DrainState drain, IOptions<WorkerOptions> options) : IConsumer<ExecuteRun>
{
    public async Task Consume(ConsumeContext<ExecuteRun> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        try
        {
            if (drain.IsDraining)
            {
                // Taking no new work; hold the delivery until the endpoint stops, then hand it back below.
                await Task.Delay(Timeout.Infinite, context.CancellationToken).ConfigureAwait(false);
            }
            if (!await slots.TryTakeAsync(options.Value.SlotWaitTimeout, context.CancellationToken).ConfigureAwait(false))
            {
                await PutBackAsync(context).ConfigureAwait(false);
                return;
            }
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            await PutBackAsync(context).ConfigureAwait(false);
            return;
        }
        executor.Start(context.Message);
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
