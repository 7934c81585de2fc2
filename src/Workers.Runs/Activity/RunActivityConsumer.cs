using MassTransit;
using Workers.Contracts;
using Workers.Runs.Persistence;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Runs.Activity;

/// <summary>Appends what a worker's agents did to each run's event log and keeps their checkpoints.</summary>
public sealed class RunActivityConsumer(RunEventStore events, TimeProvider time) : IConsumer<RunActivity>
{
    public async Task Consume(ConsumeContext<RunActivity> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var now = time.GetUtcNow();
        foreach (var attempt in context.Message.Attempts)
            await events.RecordAsync(attempt, now, context.CancellationToken).ConfigureAwait(false);
    }
}

/// <summary>Answers a worker that starts a retried attempt with the run's last checkpoint, if its lease is the run's.</summary>
public sealed class CheckpointQueryConsumer(RunEventStore events) : IConsumer<GetRunCheckpoint>
{
    public async Task Consume(ConsumeContext<GetRunCheckpoint> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var checkpoint = await events.LoadCheckpointAsync(context.Message.RunId, context.Message.LeaseId, context.CancellationToken).ConfigureAwait(false);
        await WorkerMailboxes.RespondAsync(context, new RunCheckpointAnswer { RunId = context.Message.RunId, Checkpoint = checkpoint }).ConfigureAwait(false);
    }
}
