using MassTransit;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Worker.Intake;

/// <summary>
/// This worker process's mailbox (<see cref="WorkerMailboxes"/>): where the orchestrator hands runs over, asks for runs to
/// stop and answers this worker's requests (<see cref="MailboxRequestClients"/>). Its address goes out with every claim and
/// offer, and the orchestrator keeps it with the lease.
/// </summary>
public sealed class WorkerMailbox : IReceiveEndpointObserver
{
    /// <summary>The endpoint name the mailbox's temporary queue is named after.</summary>
    public const string EndpointName = "mailbox";

    /// <summary>
    /// Deliveries the mailbox takes at once. A hand-over can wait up to <see cref="SlotOfferer.SlotPatience"/> for its slot,
    /// and answers must not queue behind those: room for two offers' worth of hand-overs and the answers beside them.
    /// </summary>
    public const int PrefetchCount = 2 * SlotOfferer.MaxSlotsPerOffer + 64;

    readonly TaskCompletionSource<IReceiveEndpoint> _endpoint = new(TaskCreationOptions.RunContinuationsAsynchronously);
    Uri? _address;
    int _generation;

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

    Task IReceiveEndpointObserver.Ready(ReceiveEndpointReady ready)
    {
        if (!_endpoint.TrySetResult(ready.ReceiveEndpoint))
            Interlocked.Increment(ref _generation);
        return Task.CompletedTask;
    }

    Task IReceiveEndpointObserver.Stopping(ReceiveEndpointStopping stopping) => Task.CompletedTask;

    Task IReceiveEndpointObserver.Completed(ReceiveEndpointCompleted completed) => Task.CompletedTask;

    Task IReceiveEndpointObserver.Faulted(ReceiveEndpointFaulted faulted) => Task.CompletedTask;
}
