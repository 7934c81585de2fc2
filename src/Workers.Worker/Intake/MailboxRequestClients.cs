using System.Collections.Concurrent;
using MassTransit;
using MassTransit.Clients;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Worker.Intake;

/// <summary>
/// Request clients (claims, heartbeats, checkpoints) whose answers come back to this worker's mailbox, marked so the
/// orchestrator sends them through the shared exchange (<see cref="WorkerMailboxes.RespondAsync"/>). Answered at the bus's
/// own address instead, an answer that found this worker gone would go to an exchange the broker had deleted with it, and
/// fail the channel of the orchestrator endpoint that sent it. Requests still leave through the bus.
/// </summary>
public sealed class MailboxRequestClients(IBus bus, WorkerMailbox mailbox)
{
    readonly ConcurrentDictionary<Type, object> _clients = new();
    ClientFactory? _factory;

    /// <summary>The client for <typeparamref name="T"/>, once the mailbox has started (waiting at most <paramref name="patience"/>).</summary>
    /// <exception cref="TimeoutException">The mailbox has not started within <paramref name="patience"/>.</exception>
    public async ValueTask<IRequestClient<T>> GetAsync<T>(CancellationToken cancellationToken, TimeSpan? patience = null)
        where T : class
    {
        if (_clients.TryGetValue(typeof(T), out var client))
            return (IRequestClient<T>)client;
        var endpoint = await mailbox.EndpointAsync(patience ?? Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
        _factory ??= new ClientFactory(new MailboxClientContext(bus, endpoint, mailbox.Address));
        return (IRequestClient<T>)_clients.GetOrAdd(typeof(T), _ => _factory.CreateRequestClient<T>(RequestTimeout.Default));
    }

    /// <summary>Answers are received on the mailbox endpoint; requests are published or sent through the bus.</summary>
    sealed class MailboxClientContext(IBus bus, IReceiveEndpoint endpoint, Uri address) : ClientFactoryContext
    {
        public RequestTimeout DefaultTimeout => RequestTimeout.Default;

        public Uri ResponseAddress => address;

        public ConnectHandle ConnectConsumePipe<T>(IPipe<ConsumeContext<T>> pipe)
            where T : class => endpoint.ConnectConsumePipe(pipe);

        public ConnectHandle ConnectConsumePipe<T>(IPipe<ConsumeContext<T>> pipe, ConnectPipeOptions options)
            where T : class => endpoint.ConnectConsumePipe(pipe, options);

        public ConnectHandle ConnectRequestPipe<T>(Guid requestId, IPipe<ConsumeContext<T>> pipe)
            where T : class => endpoint.ConnectRequestPipe(requestId, pipe);

        public IRequestSendEndpoint<T> GetRequestEndpoint<T>(ConsumeContext? consumeContext = null)
            where T : class => new MarkedRequestEndpoint<T>(new PublishRequestSendEndpoint<T>(bus, consumeContext));

        public IRequestSendEndpoint<T> GetRequestEndpoint<T>(Uri destinationAddress, ConsumeContext? consumeContext = null)
            where T : class => new MarkedRequestEndpoint<T>(new SendRequestSendEndpoint<T>(bus, destinationAddress, consumeContext));
    }

    /// <summary>Marks each request as answered through the mailbox exchange, then sends it as <paramref name="inner"/> does.</summary>
    sealed class MarkedRequestEndpoint<T>(IRequestSendEndpoint<T> inner) : IRequestSendEndpoint<T>
        where T : class
    {
        public Task<T> Send(Guid requestId, object values, IPipe<SendContext<T>> pipe, CancellationToken cancellationToken) =>
            inner.Send(requestId, values, new MarkPipe(pipe), cancellationToken);

        public Task Send(Guid requestId, T message, IPipe<SendContext<T>> pipe, CancellationToken cancellationToken) =>
            inner.Send(requestId, message, new MarkPipe(pipe), cancellationToken);

        sealed class MarkPipe(IPipe<SendContext<T>> next) : IPipe<SendContext<T>>
        {
            public Task Send(SendContext<T> context)
            {
                context.Headers.Set(WorkerMailboxes.ReplyToMailboxHeader, "true");
                return next.Send(context);
            }

            public void Probe(ProbeContext context) => next.Probe(context);
        }
    }
}
