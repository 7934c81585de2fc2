using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Workers.Orchestrator.Api;
using Workers.Orchestrator.Health;

#pragma warning disable IDE0130 // Extension methods live where hosts look for them.
namespace Microsoft.Extensions.Hosting;
#pragma warning restore IDE0130

/// <summary>Wires the orchestrator: the run saga and its store, the timer sweeper, the lease renewals and the HTTP API.</summary>
public static class OrchestratorExtensions
{
    /// <summary>Adds the orchestrator's services; follow with <c>AddWorkersBus()</c> and, once built, <see cref="MapOrchestrator"/>.</summary>
    public static IHostApplicationBuilder AddOrchestrator(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddRuns();
        builder.Services.AddProblemDetails();
        builder.Services.AddHealthChecks().AddCheck<StoreHealthCheck>("run-store", tags: ["ready"]);
        return builder;
    }

    /// <summary>Maps the HTTP API (<c>/api/runs</c>, <c>/api/workers</c>, <c>/api/stats</c>) and the health checks.</summary>
    public static IEndpointRouteBuilder MapOrchestrator(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapRunsApi();
        endpoints.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") });
        endpoints.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        return endpoints;
    }
}
