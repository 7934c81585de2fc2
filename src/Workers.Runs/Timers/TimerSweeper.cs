using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Workers.Contracts;
using Workers.Runs.Leases;
using Workers.Runs.Persistence;
using Workers.Runs.StateMachine;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Runs.Timers;

/// <summary>Settings of the timer sweeper. Section <c>Workers:Sweeper</c>.</summary>
public sealed class SweeperOptions
{
    public const string SectionName = "Workers:Sweeper";

    /// <summary>How often due timers are looked for. Bounds how late a lease expiry or retry fires.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>If a fired timer's message is lost, the run comes due again after this.</summary>
    public TimeSpan RecheckAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Runs taken per pass; a full batch is followed at once by another pass.</summary>
    public int BatchSize { get; set; } = 500;
}

/// <summary>
/// Fires the run timers kept as columns (the broker here has no delayed-message plugin, so saga schedules
/// cannot be used): it takes due rows and sends the saga the matching event. The saga re-checks each
/// against the row, so a late or duplicate timer is harmless; several orchestrators can sweep at once.
/// </summary>
public sealed partial class TimerSweeper(RunStore store, RunLifecycle lifecycle, HeartbeatHearing hearing, IBus bus, TimeProvider time,
    IOptions<SweeperOptions> options, ILogger<TimerSweeper> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        while (!stoppingToken.IsCancellationRequested)
        {
            var fired = 0;
            try
            {
                fired = await SweepOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // The sweeper must outlive a database or broker outage; it logs and tries again.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                LogSweepFailed(logger, ex);
            }
            if (fired < settings.BatchSize)
            {
                try
                {
                    await Task.Delay(settings.Interval, time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>One pass: returns how many timers fired.</summary>
    public async Task<int> SweepOnceAsync(CancellationToken cancellationToken = default)
    {
        var settings = options.Value;
        var now = time.GetUtcNow();
        var due = await store.TakeDueAsync(now, now + settings.RecheckAfter, settings.BatchSize, cancellationToken).ConfigureAwait(false);
        if (due.Count == 0)
            return 0;
        // A queued attempt that is only waiting its turn behind a backlog gets its re-dispatch timer moved here, without a
        // message to the saga (which would come to the same conclusion and do the same).
        var waiting = due.Where(run => run is { State: RunStates.Queued, DeadlinePassed: false } && !lifecycle.DispatchLooksLost(ToRunState(run)))
            .ToList();
        await store.PostponeRedispatchAsync([.. waiting.Select(run => (run.RunId, run.Attempt, lifecycle.PostponedRedispatchAt(ToRunState(run))))],
            cancellationToken).ConfigureAwait(false);
        // A lease that lapsed while this orchestrator could not hear heartbeats is judged once it has listened long enough.
        var judgeLeasesFrom = hearing.JudgesLeasesFrom(lifecycle.LeaseDuration);
        var unheard = now < judgeLeasesFrom
            ? due.Where(run => !run.DeadlinePassed && IsLeased(run.State) && run.LeaseId is not null).ToList()
            : [];
        if (unheard.Count > 0)
        {
            LogLeasesUnjudged(logger, unheard.Count, judgeLeasesFrom);
            await store.PostponeLeaseLapsesAsync([.. unheard.Select(run => (run.RunId, run.LeaseId!.Value))], judgeLeasesFrom, cancellationToken)
                .ConfigureAwait(false);
        }
        await Task.WhenAll(due.Except(waiting).Except(unheard).Select(run => FireAsync(run, cancellationToken))).ConfigureAwait(false);
        return due.Count;
    }

    /// <summary>The columns of a due row that decide whether its dispatch looks lost.</summary>
    static RunState ToRunState(DueRun run) => new()
    {
        CorrelationId = run.RunId,
        CurrentState = run.State,
        Attempt = run.Attempt,
        Runtime = run.Runtime,
        Priority = run.Priority,
        ErrorKind = run.ErrorKind,
        QueuedAt = run.QueuedAt,
    };

    static bool IsLeased(string state) => state is RunStates.Running or RunStates.Cancelling or RunStates.TimingOut;

    Task FireAsync(DueRun run, CancellationToken cancellationToken) => run.State switch
    {
        // A timeout first: the saga re-checks every timer of the row anyway, and the run comes due again for the rest.
        _ when run.DeadlinePassed => PublishAsync(new DeadlineElapsed { RunId = run.RunId, Attempt = run.Attempt }, cancellationToken),
        RunStates.Queued => PublishAsync(new DispatchElapsed { RunId = run.RunId, Attempt = run.Attempt }, cancellationToken),
        _ when IsLeased(run.State) && run.LeaseId is { } lease =>
            PublishAsync(new LeaseExpired { RunId = run.RunId, Attempt = run.Attempt, LeaseId = lease }, cancellationToken),
        RunStates.RetryScheduled => PublishAsync(new RetryDelayElapsed { RunId = run.RunId, Attempt = run.Attempt }, cancellationToken),
        _ => Task.CompletedTask,
    };

    Task PublishAsync<T>(T timer, CancellationToken cancellationToken)
        where T : class =>
        bus.Publish(timer, context => context.TrySetPriority(RunQueues.LifecyclePriority), cancellationToken);

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Timer sweep failed; retrying on the next pass")]
    static partial void LogSweepFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information,
        Message = "{Count} lease(s) lapsed while heartbeats could not reach this orchestrator; judged at {JudgeAt:O}, once their workers have had time to renew them")]
    static partial void LogLeasesUnjudged(ILogger logger, int count, DateTimeOffset judgeAt);
}
