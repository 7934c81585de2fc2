using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Workers.ServiceDefaults.FaultInjection;
using Workers.ServiceDefaults.Messaging;

#pragma warning disable IDE0130 // Extension methods live where hosts look for them.
namespace Microsoft.Extensions.Hosting;
#pragma warning restore IDE0130

/// <summary>Composes the bus from the participants a host registered.</summary>
public static class WorkersBusExtensions
{
    /// <summary>Registers a participant; call <see cref="AddWorkersBus"/> once after every participant is in.</summary>
    public static IServiceCollection AddBusParticipant(this IServiceCollection services, IBusParticipant participant)
    {
        ArgumentNullException.ThrowIfNull(participant);
        return services.AddSingleton(participant);
    }

    /// <summary>
    /// Adds MassTransit on the configured transport (<c>Workers:Bus</c>) with every registered <see cref="IBusParticipant"/>.
    /// Call it last, after <c>AddOrchestrator()</c> and/or <c>AddWorker()</c>.
    /// </summary>
    public static IHostApplicationBuilder AddWorkersBus(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);

        var options = builder.Configuration.GetSection(WorkersBusOptions.SectionName).Get<WorkersBusOptions>() ?? new WorkersBusOptions();
        options.RabbitMqUrl ??= builder.Configuration["RABBITMQ_URL"];
        var rabbitUri = options.Transport == BusTransport.RabbitMq ? ParseRabbitUrl(options.RabbitMqUrl) : null;

        var participants = builder.Services
            .Where(d => d.ServiceType == typeof(IBusParticipant) && d.ImplementationInstance is not null)
            .Select(d => (IBusParticipant)d.ImplementationInstance!)
            .ToList();

        builder.Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(options));
        var faults = builder.Configuration.GetSection(FaultInjectionOptions.SectionName).Get<FaultInjectionOptions>() ?? new FaultInjectionOptions();
        builder.Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(faults));
        builder.Services.AddOptions<MassTransitHostOptions>().Configure(o =>
        {
            // Without it, messages published right after start-up can hit exchanges nothing is bound to yet (and vanish).
            o.WaitUntilStarted = true;
            o.StopTimeout = TimeSpan.FromSeconds(30);
        });

        builder.Services.AddMassTransit(x =>
        {
            foreach (var participant in participants)
                participant.AddRegistrations(x);

            if (rabbitUri is null)
            {
                x.UsingInMemory((context, cfg) =>
                {
                    UseFaults(cfg, faults);
                    foreach (var participant in participants)
                        participant.ConfigureEndpoints(context, cfg, BusTransport.InMemory);
                });
            }
            else
            {
                x.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(rabbitUri);
                    UseFaults(cfg, faults);
                    foreach (var participant in participants)
                        participant.ConfigureEndpoints(context, cfg, BusTransport.RabbitMq);
                });
            }
        });

        foreach (var participant in participants)
            participant.AddServicesAfterBus(builder.Services);

        return builder;
    }

    static void UseFaults(IBusFactoryConfigurator configurator, FaultInjectionOptions faults)
    {
        if (faults.CrashBeforeSending is not null)
            configurator.UseCrashBeforeSending(faults.CrashBeforeSending);
        if (faults.DelayConsuming is not null)
            configurator.UseDelayBeforeConsuming(faults.DelayConsuming, faults.DelayConsumingBy);
    }

    static Uri ParseRabbitUrl(string? url)
    {
        if (string.IsNullOrWhiteSpace(url))
            throw new OptionsValidationException(WorkersBusOptions.SectionName, typeof(WorkersBusOptions),
                ["Workers:Bus:RabbitMqUrl is required when Workers:Bus:Transport is RabbitMq (or set RABBITMQ_URL), e.g. amqp://guest:guest@localhost:5672/"]);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != "amqp" && uri.Scheme != "amqps"))
            throw new OptionsValidationException(WorkersBusOptions.SectionName, typeof(WorkersBusOptions),
                [$"Workers:Bus:RabbitMqUrl '{url}' is not an amqp:// or amqps:// URL, e.g. amqp://guest:guest@localhost:5672/"]);
        return uri;
    }
}
