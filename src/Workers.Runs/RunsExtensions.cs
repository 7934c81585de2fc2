using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Workers.Runs;
using Workers.Runs.Admission;
using Workers.Runs.Dispatch;
using Workers.Runs.Leases;
using Workers.Runs.Persistence;
using Workers.Runs.Routing;
using Workers.Runs.StateMachine;
using Workers.Runs.Timers;

#pragma warning disable IDE0130 // Extension methods live where hosts look for them.
namespace Microsoft.Extensions.Hosting;
#pragma warning restore IDE0130

/// <summary>Wires the run lifecycle: saga, store, migrations, timers, lease renewals.</summary>
public static class RunsExtensions
{
    /// <summary>
    /// Adds the run saga and everything it stands on. Settings: <c>Workers:Runs</c>, <c>Workers:Store</c>,
    /// <c>Workers:Sweeper</c>, <c>Workers:Agents</c>. Follow with <c>AddWorkersBus()</c>.
    /// </summary>
    public static IHostApplicationBuilder AddRuns(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;

        services.AddOptions<RunOptions>().BindConfiguration(RunOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<SweeperOptions>().BindConfiguration(SweeperOptions.SectionName);
        services.AddOptions<RunStoreOptions>().BindConfiguration(RunStoreOptions.SectionName)
            .PostConfigure(o => o.ConnectionString ??= o.Provider == StoreProvider.Postgres ? builder.Configuration["POSTGRES_URL"] : null)
            .Validate(o => !string.IsNullOrWhiteSpace(o.ConnectionString),
                "Workers:Store:ConnectionString is required (env Workers__Store__ConnectionString, or POSTGRES_URL for Postgres), " +
                "e.g. 'Data Source=.workers/workers.db' for Sqlite or 'Host=localhost;Username=workers;Password=workers;Database=workers' for Postgres.")
            .ValidateOnStart();

        services.AddAgentCatalog();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<RunStoreOptions>>().Value;
            return new RunStore(SqlDialect.For(options.Provider), options.ConnectionString!, sp.GetService<ILogger<RunStore>>());
        });
        services.TryAddSingleton<RunEventStore>();
        services.TryAddSingleton<LiveRuntimeMonitor>();
        services.TryAddSingleton<ILiveRuntimes>(sp => sp.GetRequiredService<LiveRuntimeMonitor>());
        services.TryAddSingleton<RunAdmission>();
        services.TryAddSingleton<DispatchProgress>();
        services.TryAddSingleton<SlotOffers>();
        services.TryAddSingleton<RunLifecycle>();
        services.TryAddSingleton<HeartbeatHearing>();

        // Order matters: hosted services start in registration order, and these must finish before the bus starts.
        services.AddHostedService<SchemaMigrationService>();
        services.AddHostedService<DispatchQueueDeclarer>();
        services.AddHostedService<TimerSweeper>();
        services.AddHostedService(sp => sp.GetRequiredService<LiveRuntimeMonitor>());
        services.AddBusParticipant(new RunsBusParticipant());
        return builder;
    }
}
