using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Workers.Worker;
using Workers.Worker.Activity;
using Workers.Worker.Execution;
using Workers.Worker.Intake;
using Workers.Worker.Leases;
using Workers.Worker.Workspaces;

#pragma warning disable IDE0130 // Extension methods live where hosts look for them.
namespace Microsoft.Extensions.Hosting;
#pragma warning restore IDE0130

/// <summary>Wires a worker: runtimes, slots, the dispatch consumers, heartbeats and drain.</summary>
public static class WorkerExtensions
{
    /// <summary>Adds the worker's services (settings: <c>Workers:Worker</c>); follow with <c>AddWorkersBus()</c>.</summary>
    public static IHostApplicationBuilder AddWorker(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddOptions<WorkerOptions>().BindConfiguration(WorkerOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddAgentRuntimes();
        services.TryAddSingleton<WorkerIdentity>();
        services.TryAddSingleton<RuntimeOffer>();
        services.TryAddSingleton<LeaseTable>();
        services.TryAddSingleton<DrainState>();
        services.TryAddSingleton(sp => new SlotPool(sp.GetRequiredService<IOptions<WorkerOptions>>().Value.Slots));
        services.TryAddSingleton<HeldDispatches>();
        services.TryAddSingleton<RunWorkspaces>();
        services.TryAddSingleton<ClaimBatcher>();
        services.TryAddSingleton<ConfirmedPublisher>();
        services.TryAddSingleton<ResultReporter>();
        services.TryAddSingleton<RunExecutor>();
        services.TryAddSingleton<WorkerMailbox>();
        services.TryAddSingleton<MailboxRequestClients>();
        services.TryAddSingleton<BrokerReach>();
        services.AddHostedService<MailboxWatch>();
        services.TryAddSingleton<SlotOfferer>();
        services.AddHostedService(sp => sp.GetRequiredService<SlotOfferer>());
        services.AddHostedService<HeartbeatService>();
        services.AddHostedService<LeaseWatchdog>();
        services.TryAddSingleton<ActivityReporter>();
        services.AddHostedService(sp => sp.GetRequiredService<ActivityReporter>());
        services.AddBusParticipant(new WorkerBusParticipant());
        return builder;
    }
}
