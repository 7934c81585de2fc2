using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Workers.Runs.Persistence;

namespace Workers.Runs.Routing;

/// <summary>Which runtimes the live workers offer right now (from the worker registry that heartbeats refresh).</summary>
public interface ILiveRuntimes
{
    /// <summary>Runtimes offered by at least one worker heard from within the lease duration.</summary>
    IReadOnlySet<string> Offered { get; }
}

/// <summary>
/// Keeps <see cref="ILiveRuntimes"/> fresh by reading the worker registry every heartbeat interval, so admission can
/// pick a runtime some worker can run without a database query per submission.
/// </summary>
public sealed partial class LiveRuntimeMonitor(RunStore store, TimeProvider time, IOptions<RunOptions> options, ILogger<LiveRuntimeMonitor> logger)
    : BackgroundService, ILiveRuntimes
{
    static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(2);
    volatile IReadOnlySet<string> _offered = new HashSet<string>();

    public IReadOnlySet<string> Offered => _offered;

    /// <summary>Reads the registry once.</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var workers = await store.ListWorkersAsync(cancellationToken).ConfigureAwait(false);
        // A worker whose mailbox is down takes no work (it makes no offers and no claims), so it offers nothing either.
        _offered = workers.Where(w => now - w.LastSeenAt <= options.Value.LeaseDuration && !w.Draining && w.MailboxDownSince is null)
            .SelectMany(w => w.Runtimes).ToHashSet(StringComparer.Ordinal);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RefreshAsync(stoppingToken).ConfigureAwait(false);
                await Task.Delay(RefreshInterval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // The registry being unreachable for a moment must not stop the monitor.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                LogRefreshFailed(logger, ex);
                await Task.Delay(RefreshInterval, time, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Could not read the worker registry; runtime selection uses the last known set")]
    static partial void LogRefreshFailed(ILogger logger, Exception exception);
}
