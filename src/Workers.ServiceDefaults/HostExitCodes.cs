using Microsoft.Extensions.DependencyInjection;

#pragma warning disable IDE0130 // Where hosts look for their start-up helpers.
namespace Microsoft.Extensions.Hosting;
#pragma warning restore IDE0130

/// <summary>
/// The exit code a Workers host ends with, so that its supervisor can tell a requested stop from a failure
/// (systemd's <c>Restart=on-failure</c> restarts only the latter).
/// </summary>
public static class HostExitCodes
{
    /// <summary>A background service failed and stopped the host (EX_SOFTWARE).</summary>
    public const int BackgroundServiceFailed = 70;

    /// <summary>
    /// Runs <paramref name="host"/> until it stops, then returns its exit code: the one a service asked for
    /// (<see cref="Environment.ExitCode"/>, e.g. a worker whose mailbox is stuck), else
    /// <see cref="BackgroundServiceFailed"/> when a background service failed (the framework stops the host then but
    /// leaves the exit code at 0), else 0.
    /// </summary>
    public static async Task<int> RunToExitCodeAsync(this IHost host, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        // Taken before the run: the host disposes its services when it stops. They are singletons, so these are the ones run.
        var background = host.Services.GetServices<IHostedService>().OfType<BackgroundService>().ToList();
        await host.RunAsync(cancellationToken).ConfigureAwait(false);
        if (Environment.ExitCode != 0)
            return Environment.ExitCode;
        return background.Exists(service => service.ExecuteTask is { IsFaulted: true }) ? BackgroundServiceFailed : 0;
    }
}
