using MassTransit;

namespace Workers.ServiceDefaults.FaultInjection;

/// <summary>Kills the process instead of sending the message type named by <see cref="FaultInjectionOptions.CrashBeforeSending"/>.</summary>
public static class CrashBeforeSending
{
    /// <summary>Adds the check to every send of the bus (including a saga's outbox, which sends after its commit).</summary>
    public static void UseCrashBeforeSending(this IBusFactoryConfigurator configurator, string messageType)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        configurator.ConfigureSend(send => send.UseSendExecute(context =>
        {
            if (IsOfType(context, messageType))
                FaultInjectionOptions.Crash($"about to send {messageType}");
        }));
    }

    static bool IsOfType(SendContext context, string messageType) =>
        context.GetType().GetInterfaces().Any(i =>
            i.IsGenericType && i.GetGenericTypeDefinition() == typeof(SendContext<>) && i.GetGenericArguments()[0].Name == messageType);
}
