using MassTransit;

namespace Workers.ServiceDefaults.FaultInjection;

/// <summary>
/// Holds every message of the type named by <see cref="FaultInjectionOptions.DelayConsuming"/> for
/// <see cref="FaultInjectionOptions.DelayConsumingBy"/> before it is consumed: a process too busy to answer in time.
/// </summary>
public static class DelayBeforeConsuming
{
    /// <summary>Adds the delay to every receive endpoint of the bus.</summary>
    public static void UseDelayBeforeConsuming(this IBusFactoryConfigurator configurator, string messageType, TimeSpan delay)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        var suffix = ":" + messageType;
        configurator.UseExecuteAsync(context =>
            context.SupportedMessageTypes.Any(t => t.EndsWith(suffix, StringComparison.Ordinal))
                ? Task.Delay(delay, context.CancellationToken)
                : Task.CompletedTask);
    }
}
