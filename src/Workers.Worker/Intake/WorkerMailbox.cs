using MassTransit;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Worker.Intake;

/// <summary>
/// This worker process's mailbox (<see cref="WorkerMailboxes"/>): where the orchestrator hands runs over and asks for runs to
/// stop. Its address goes out with every claim and offer, and the orchestrator keeps it with the lease.
/// </summary>
public sealed class WorkerMailbox
{
    /// <summary>The endpoint name the mailbox's temporary queue is named after.</summary>
    public const string EndpointName = "mailbox";

    Uri? _address;

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
}
