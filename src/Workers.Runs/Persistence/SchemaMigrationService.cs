using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Workers.Runs.Persistence;

/// <summary>Brings the schema up to date before the saga starts consuming (registered ahead of the bus).</summary>
sealed partial class SchemaMigrationService(RunStore store, IOptions<RunStoreOptions> options, ILogger<SchemaMigrationService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Value.MigrateOnStart)
            return;
        var applied = await new SchemaMigrator(store).MigrateAsync(cancellationToken).ConfigureAwait(false);
        foreach (var name in applied)
            LogApplied(logger, name, store.Dialect.Provider);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Applied schema migration {Migration} ({Provider})")]
    static partial void LogApplied(ILogger logger, string migration, StoreProvider provider);
}
