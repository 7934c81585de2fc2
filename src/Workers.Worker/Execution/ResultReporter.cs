using MassTransit;
using Microsoft.Extensions.Logging;
using Workers.Contracts;
using Workers.ServiceDefaults.Batching;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Worker.Execution;

/// <summary>
/// Publishes attempts' results until the broker confirms them. A result is the one thing an attempt produces that cannot
/// be recomputed without running the agent again, so a broker restart must delay it, not lose it. Successes go with at
/// most one publish in flight (<see cref="InFlightBatches{T}"/>): one alone leaves as itself, the ones made while a publish
/// waited for its confirm leave together in one <see cref="RunsSucceeded"/>. Failures, cancellations and hand-backs are
/// rare and leave one by one.
/// </summary>
public sealed partial class ResultReporter
{
    /// <summary>Most successes in one message.</summary>
    public const int MaxPerMessage = 64;

    /// <summary>About how much text (output and artifacts, in characters) one message carries; a heavier success goes alone.</summary>
    public const long MaxTextPerMessage = 1024 * 1024;

    /// <summary>How long a result is retried before the worker gives up (the lease then lapses and the run is retried).</summary>
    static readonly TimeSpan Patience = TimeSpan.FromMinutes(10);

    readonly InFlightBatches<PendingSuccess> _successes;
    readonly IBus _bus;
    readonly TimeProvider _time;
    readonly ILogger<ResultReporter> _logger;

    public ResultReporter(IBus bus, TimeProvider time, ILogger<ResultReporter> logger)
    {
        _bus = bus;
        _time = time;
        _logger = logger;
        _successes = new InFlightBatches<PendingSuccess>(1, CountToTake, PublishAsync);
    }

    /// <summary>Completes once the broker has confirmed the result; throws only when it could not for <see cref="Patience"/>.</summary>
    public Task ReportAsync(object result)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (result is not RunSucceeded success)
            return PublishUntilConfirmedAsync(result, 1);
        var pending = new PendingSuccess(success);
        _successes.Add(pending);
        return pending.Confirmed.Task;
    }

    async Task PublishAsync(List<PendingSuccess> batch)
    {
        try
        {
            object message = batch.Count == 1 ? batch[0].Success : new RunsSucceeded { Results = batch.ConvertAll(p => p.Success) };
            await PublishUntilConfirmedAsync(message, batch.Count).ConfigureAwait(false);
            foreach (var pending in batch)
                pending.Confirmed.TrySetResult();
        }
#pragma warning disable CA1031 // Handed to every run of the batch, whose executor logs it.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            foreach (var pending in batch)
                pending.Confirmed.TrySetException(ex);
        }
    }

    /// <summary>How many of the oldest waiting successes fit the count and text limits (always at least one).</summary>
    static int CountToTake(IReadOnlyList<PendingSuccess> waiting)
    {
        var count = 0;
        long text = 0;
        while (count < waiting.Count && count < MaxPerMessage)
        {
            var weight = Weight(waiting[count].Success);
            if (count > 0 && text + weight > MaxTextPerMessage)
                break;
            text += weight;
            count++;
        }
        return count;
    }

    static long Weight(RunSucceeded success) =>
        (success.Output?.Length ?? 0) + (success.Artifacts is { } a
            ? (a.DiffSummary?.Length ?? 0) + (a.HandOff?.Length ?? 0) + a.FilesChanged.Sum(f => (long)f.Length) + a.Commands.Sum(c => (long)c.Length)
            : 0);

    async Task PublishUntilConfirmedAsync(object message, int results)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        var giveUpAt = _time.GetUtcNow() + Patience;
        while (true)
        {
            try
            {
                await _bus.Publish(message, context => context.TrySetPriority(RunQueues.LifecyclePriority), CancellationToken.None).ConfigureAwait(false);
                return;
            }
#pragma warning disable CA1031 // Any publish failure (connection closed, channel faulted) is retried the same way.
            catch (Exception ex) when (_time.GetUtcNow() < giveUpAt)
#pragma warning restore CA1031
            {
                LogReportRetry(_logger, message.GetType().Name, results, delay, ex.Message);
                await Task.Delay(delay, _time, CancellationToken.None).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    sealed record PendingSuccess(RunSucceeded Success)
    {
        public TaskCompletionSource Confirmed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Publishing {MessageType} ({Results} result(s)) failed; retrying in {Delay}: {Error}")]
    static partial void LogReportRetry(ILogger logger, string messageType, int results, TimeSpan delay, string error);
}
