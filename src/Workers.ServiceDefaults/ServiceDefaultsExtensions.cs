using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

#pragma warning disable IDE0130 // Extension methods live where hosts look for them.
namespace Microsoft.Extensions.Hosting;
#pragma warning restore IDE0130

/// <summary>What every Workers host has: console logging, health checks, a <see cref="TimeProvider"/>.</summary>
public static class ServiceDefaultsExtensions
{
    public static IHostApplicationBuilder AddServiceDefaults(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);

        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        // MassTransit logs every consumer fault at Error and retries at Warning; keep its chatter out of Information.
        builder.Logging.AddFilter("MassTransit", LogLevel.Warning);
        // Retries of saga concurrency conflicts are expected traffic under load; faults still log at Error.
        builder.Logging.AddFilter("MassTransit.ReceiveTransport", LogLevel.Error);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddHealthChecks();
        return builder;
    }
}
