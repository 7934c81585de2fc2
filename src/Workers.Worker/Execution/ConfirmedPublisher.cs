using MassTransit;
using Microsoft.Extensions.Logging;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Worker.Execution;

/// <summary>
/// Publishes a result message until the broker confirms it. A result is the one thing an attempt produces that cannot be
/// recomputed without running the agent again, so a broker restart must delay it, not lose it.
/// </summary>
public sealed partial class ConfirmedPublisher(IBus bus, TimeProvider time, ILogger<ConfirmedPublisher> logger)
{
    /// <summary>How long a result is retried before the worker gives up (the lease then lapses and the run is retried).</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromMinutes(10);

    /// <summary>Completes once the broker has confirmed <paramref name="message"/>; throws only when it could not for <see cref="Patience"/>.</summary>
    public async Task PublishAsync(object message, int results)
    {
        ArgumentNullException.ThrowIfNull(message);
        var delay = TimeSpan.FromMilliseconds(200);
        var giveUpAt = time.GetUtcNow() + Patience;
        while (true)
        {
            try
            {
                await bus.Publish(message, context => context.TrySetPriority(RunQueues.LifecyclePriority), CancellationToken.None).ConfigureAwait(false);
                return;
            }
#pragma warning disable CA1031 // Any publish failure (connection closed, channel faulted) is retried the same way.
            catch (Exception ex) when (time.GetUtcNow() < giveUpAt)
#pragma warning restore CA1031
            {
                LogReportRetry(logger, message.GetType().Name, results, delay, ex.Message);
                await Task.Delay(delay, time, CancellationToken.None).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Publishing {MessageType} ({Results} result(s)) failed; retrying in {Delay}: {Error}")]
    static partial void LogReportRetry(ILogger logger, string messageType, int results, TimeSpan delay, string error);
}
