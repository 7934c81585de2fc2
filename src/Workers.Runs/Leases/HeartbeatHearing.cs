using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Runs.Leases;

/// <summary>
/// Whether this orchestrator has heard heartbeats long enough to judge a lease lapsed. Silence heard while it was cut off
/// (its heartbeat endpoint down: a broker restart, a lost connection, its own start) says nothing about the worker, whose
/// renewals could not reach it. Without this, a run that ends while the broker is down would restart before its worker,
/// reconnecting a few seconds behind the orchestrator, could report it, and the agent would run to its end twice.
/// </summary>
/// <remarks>
/// After its start the orchestrator listens for one lease duration before judging: heartbeats reach it as soon as it
/// consumes. After a break it listens for two: the workers were cut off too, and each reconnects on its own back-off
/// schedule (up to about 9 s behind the orchestrator here). The worker's side is unchanged: it stops its agent when it
/// cannot renew the lease in time, so judging later never lets two attempts run at once; it only waits longer for a worker
/// that died during the outage. With the in-memory transport no heartbeat can be missed (every worker lives and dies with
/// this process), so leases are judged at once.
/// </remarks>
public sealed partial class HeartbeatHearing : ReceiveEndpointUpDown
{
    readonly TimeProvider _time;
    readonly ILogger<HeartbeatHearing> _logger;
    readonly Lock _lock = new();
    readonly bool _inMemory;
    // Null while the heartbeat endpoint is down or not started yet.
    DateTimeOffset? _listeningSince;
    bool _afterBreak;

    public HeartbeatHearing(TimeProvider time, IOptions<WorkersBusOptions> bus, ILogger<HeartbeatHearing> logger)
    {
        ArgumentNullException.ThrowIfNull(bus);
        _time = time;
        _logger = logger;
        _inMemory = bus.Value.Transport == BusTransport.InMemory;
    }

    /// <summary>
    /// The earliest time a lease may be judged lapsed: one lease duration after the heartbeat endpoint first came up, two
    /// after it came back from a break; while it is down, two from now at the soonest.
    /// </summary>
    public DateTimeOffset JudgesLeasesFrom(TimeSpan leaseDuration)
    {
        if (_inMemory)
            return DateTimeOffset.MinValue;
        lock (_lock)
        {
            return _listeningSince is { } since
                ? since + (_afterBreak ? 2 * leaseDuration : leaseDuration)
                : _time.GetUtcNow() + 2 * leaseDuration;
        }
    }

    protected override void Up(IReceiveEndpoint endpoint)
    {
        if (_inMemory)
            return;
        var since = _time.GetUtcNow();
        bool afterBreak;
        lock (_lock)
        {
            // Every start but the first follows a break, whether or not the break was reported first.
            afterBreak = _afterBreak || _listeningSince is not null;
            (_listeningSince, _afterBreak) = (since, afterBreak);
        }
        if (afterBreak)
            LogListeningAgain(_logger, since);
    }

    protected override void Down(bool stopping)
    {
        if (_inMemory)
            return;
        lock (_lock)
        {
            if (_listeningSince is null)
                return;
            (_listeningSince, _afterBreak) = (null, true);
        }
        if (stopping)
            LogClosed(_logger);
        else
            LogDeaf(_logger);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "Heartbeats reach this orchestrator again since {Since:O}; leases that lapsed are judged once it has listened for two lease durations")]
    static partial void LogListeningAgain(ILogger logger, DateTimeOffset since);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning,
        Message = "The heartbeat endpoint is down: heartbeats cannot reach this orchestrator, and no lease is judged lapsed until it has listened again")]
    static partial void LogDeaf(ILogger logger);

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "The heartbeat endpoint is closed: it is stopping with the bus")]
    static partial void LogClosed(ILogger logger);
}
