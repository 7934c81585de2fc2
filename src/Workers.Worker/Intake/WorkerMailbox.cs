using MassTransit;
using Microsoft.Extensions.Logging;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Worker.Intake;

/// <summary>
/// This worker process's mailbox (<see cref="WorkerMailboxes"/>): where the orchestrator hands runs over, asks for runs to
/// stop and answers this worker's requests (<see cref="MailboxRequestClients"/>). Its address goes out with every claim and
/// offer, and the orchestrator keeps it with the lease. While it is down (its queue lost with the broker connection and not
/// yet declared again), nothing can reach this worker: it makes no offers and no claims (<see cref="IsReady"/>).
/// </summary>
public sealed partial class WorkerMailbox(TimeProvider time, ILogger<WorkerMailbox> logger) : ReceiveEndpointUpDown
{
    /// <summary>The endpoint name the mailbox's temporary queue is named after.</summary>
    public const string EndpointName = "mailbox";

    /// <summary>
    /// Deliveries the mailbox takes at once. A hand-over can wait up to <see cref="SlotOfferer.SlotPatience"/> for its slot,
    /// and answers must not queue behind those: room for two offers' worth of hand-overs and the answers beside them.
    /// </summary>
    public const int PrefetchCount = 2 * SlotOfferer.MaxSlotsPerOffer + 64;

    readonly TaskCompletionSource<IReceiveEndpoint> _endpoint = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Lock _lock = new();
    Uri? _address;
    int _generation;
    // Completed while the mailbox is up; replaced by a fresh one each time it goes down.
    TaskCompletionSource _up = new(TaskCreationOptions.RunContinuationsAsynchronously);
    DateTimeOffset? _downSince;

    /// <summary>The mailbox queue's address; known once the bus is configured, before any hosted service starts.</summary>
    public Uri Address => _address ?? throw new InvalidOperationException("The worker's mailbox is not configured: the bus has not been built yet.");

    /// <summary>
    /// Configures the mailbox endpoint: on RabbitMQ, bound to the shared exchange under its own queue name, and to nothing
    /// else (no message-type bindings: nothing published reaches it).
    /// </summary>
    public void Configure(IReceiveEndpointConfigurator endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        endpoint.ConfigureConsumeTopology = false;
        endpoint.PrefetchCount = PrefetchCount;
        endpoint.ConnectReceiveEndpointObserver(this);
        if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbit)
        {
            var queue = WorkerMailboxes.MailboxName(endpoint.InputAddress);
            rabbit.Bind(WorkerMailboxes.ExchangeName, binding =>
            {
                binding.ExchangeType = RabbitMQ.Client.ExchangeType.Direct;
                binding.RoutingKey = queue;
            });
        }
        _address = endpoint.InputAddress;
    }

    /// <summary>The mailbox endpoint, once it has started for the first time (answers to requests are received on it).</summary>
    /// <exception cref="TimeoutException">It has not started within <paramref name="patience"/>.</exception>
    public Task<IReceiveEndpoint> EndpointAsync(TimeSpan patience, CancellationToken cancellationToken) =>
        _endpoint.Task.WaitAsync(patience, cancellationToken);

    /// <summary>
    /// How many times the mailbox has become ready again after its first start: each time, its queue was declared anew
    /// after the consumer lost it (a broker restart, a lost connection or channel), and a temporary queue is deleted with the
    /// messages it held. Hand-overs sent before may be gone (<see cref="SlotOfferer"/>).
    /// </summary>
    public int Generation => Volatile.Read(ref _generation);

    /// <summary>
    /// Whether the mailbox is up: started, and not faulted since. A claim or an offer made while it is down would be answered
    /// into the void (the grant lost, the lease left to lapse, an attempt spent).
    /// </summary>
    public bool IsReady
    {
        get
        {
            lock (_lock)
                return _up.Task.IsCompleted;
        }
    }

    /// <summary>
    /// Since when the mailbox has been down, if it went down after it had been up (it reports so in every heartbeat, and
    /// the registry shows it); null while it is up, and before its first start.
    /// </summary>
    public DateTimeOffset? DownSince
    {
        get
        {
            lock (_lock)
                return _downSince;
        }
    }

    /// <summary>Waits up to <paramref name="patience"/> for the mailbox to be up; false if it is still down.</summary>
    public async Task<bool> WaitReadyAsync(TimeSpan patience, CancellationToken cancellationToken)
    {
        Task up;
        lock (_lock)
            up = _up.Task;
        if (up.IsCompleted)
            return true;
        try
        {
            await up.WaitAsync(patience, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    protected override void Up(IReceiveEndpoint endpoint)
    {
        if (!_endpoint.TrySetResult(endpoint))
            Interlocked.Increment(ref _generation);
        DateTimeOffset? downSince;
        lock (_lock)
        {
            _up.TrySetResult();
            downSince = _downSince;
            _downSince = null;
        }
        if (downSince is { } since)
        {
            var downFor = time.GetUtcNow() - since;
            LogUpAgain(logger, downFor);
        }
    }

    protected override void Down(bool stopping)
    {
        lock (_lock)
        {
            if (!_up.Task.IsCompleted)
                return;
            _up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _downSince = time.GetUtcNow();
        }
        if (stopping)
            LogClosed(logger);
        else
            LogDown(logger);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning,
        Message = "The worker's mailbox is down (its queue or the broker connection lost): no offers and no claims until it is up again")]
    static partial void LogDown(ILogger logger);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "The worker's mailbox is up again after {Duration}")]
    static partial void LogUpAgain(ILogger logger, TimeSpan duration);

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "The worker's mailbox is closed: its endpoint is stopping with the bus")]
    static partial void LogClosed(ILogger logger);
}
