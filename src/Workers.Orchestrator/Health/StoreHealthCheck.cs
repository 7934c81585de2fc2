using Microsoft.Extensions.Diagnostics.HealthChecks;
using Workers.Runs.Persistence;

namespace Workers.Orchestrator.Health;

/// <summary>Ready only when the saga-state table answers.</summary>
sealed class StoreHealthCheck(RunStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await store.CountAsync(cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy();
        }
#pragma warning disable CA1031 // A health check reports any failure as unhealthy.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return HealthCheckResult.Unhealthy($"the run store ({store.Dialect.Provider}) does not answer: {ex.Message}", ex);
        }
    }
}
