using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Workers.Contracts;
using Workers.Worker.Leases;

namespace Workers.Worker.Activity;

/// <summary>
/// Sends the agents' events and checkpoints to the orchestrator: one <see cref="RunActivity"/> per worker every half
/// second while there is something new, at once when a checkpoint is written, and for one attempt before its result.
/// A failed send keeps the events for the next try.
/// </summary>
public sealed partial class ActivityReporter(IBus bus, LeaseTable leases, WorkerIdentity identity, ILogger<ActivityReporter> logger)
    : BackgroundService
{
    static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);
    readonly SemaphoreSlim _wake = new(0, 1);

    /// <summary>Asks for a send now (a checkpoint is waiting).</summary>
    public void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(Interval, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            // Attempts whose final flush is in flight are skipped; that flush sends what they have.
            var ready = leases.Snapshot().Where(r => r.Log.HasPending && r.Log.Sending.Wait(0)).ToList();
            try
            {
                await SendAsync(ready, CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                foreach (var run in ready)
                    run.Log.Sending.Release();
            }
        }
    }

    /// <summary>
    /// Sends what one attempt has left, after any batch of it already in flight; called before its result so the log is
    /// complete when the run ends.
    /// </summary>
    public async Task FlushAsync(ActiveRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        await run.Log.Sending.WaitAsync().ConfigureAwait(false);
        try
        {
            if (run.Log.HasPending)
                await SendAsync([run], CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            run.Log.Sending.Release();
        }
    }

    async Task SendAsync(List<ActiveRun> runs, CancellationToken cancellationToken)
    {
        if (runs.Count == 0)
            return;
        var taken = runs.Select(r => (Run: r, Batch: r.Log.Take())).Where(t => t.Batch.Events.Count > 0 || t.Batch.Checkpoint is not null).ToList();
        if (taken.Count == 0)
            return;
        var message = new RunActivity
        {
            WorkerId = identity.WorkerId,
            Attempts = taken.Select(t => new AttemptActivity
            {
                RunId = t.Run.RunId,
                Attempt = t.Run.Attempt,
                LeaseId = t.Run.LeaseId,
                Events = t.Batch.Events,
                Checkpoint = t.Batch.Checkpoint,
            }).ToList(),
        };
        try
        {
            await bus.Publish(message, cancellationToken).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Broker trouble must not lose the events: keep them for the next send.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogSendFailed(logger, taken.Count, ex.Message);
            foreach (var (run, batch) in taken)
                run.Log.Restore(batch.Events, batch.Checkpoint);
        }
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Sending the events of {Count} attempt(s) failed; they are kept for the next try: {Error}")]
    static partial void LogSendFailed(ILogger logger, int count, string error);
}
