using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Workers.Worker.Leases;

namespace Workers.Worker.Execution;

/// <summary>
/// Graceful stop: registered after the bus so it stops before it. Stops taking work, lets in-flight runs finish
/// within the grace period (they can still report), then stops the rest and hands them back (<c>RunReleased</c>) so
/// they restart at once elsewhere without spending an attempt.
/// </summary>
sealed partial class DrainService(DrainState drain, RunExecutor executor, LeaseTable leases, IOptions<WorkerOptions> options,
    ILogger<DrainService> logger) : IHostedService
{
    /// <summary>The stop reason of runs handed back at shutdown.</summary>
    const string ShutdownReason = "worker shutting down";

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        drain.BeginDrain();
        // Count from the executor, not the lease table: a claim still waiting for its answer holds no lease yet but
        // may be granted, and then its run must be finished or handed back before the bus stops.
        var inFlight = executor.InFlight;
        if (inFlight == 0)
            return;
        LogDraining(logger, inFlight, options.Value.ShutdownGracePeriod);
        var idle = executor.WhenIdle();
        if (await Task.WhenAny(idle, Task.Delay(options.Value.ShutdownGracePeriod, cancellationToken)).ConfigureAwait(false) == idle)
            return;
        foreach (var run in leases.Snapshot())
            run.Stop(StopCause.Shutdown, ShutdownReason);
        await Task.WhenAny(idle, Task.Delay(TimeSpan.FromSeconds(5), cancellationToken)).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Draining: waiting up to {Grace} for {Count} run(s) in flight")]
    static partial void LogDraining(ILogger logger, int count, TimeSpan grace);
}
