using MassTransit;

namespace Workers.ServiceDefaults.Messaging;

/// <summary>
/// How the orchestrator reaches one worker process (a hand-over, a stop, the answer to a request). Each worker has a
/// mailbox: a queue of its own, deleted with it, bound to one shared, durable direct exchange under the mailbox's name.
/// Messages go to that exchange with the mailbox as routing key, never to the mailbox's own address. When the worker has
/// died, the message finds no binding and is dropped (its lease then lapses, as after any crash). A send to a dead worker's
/// own address would instead go to an exchange the broker deleted with the worker: that fails the channel (404), and the
/// channel is the sending endpoint's own, so the orchestrator's saga endpoint stopped with it.
/// </summary>
public static class WorkerMailboxes
{
    /// <summary>The shared exchange every worker's mailbox is bound to, under its own queue name.</summary>
    public const string ExchangeName = "worker-mailboxes";

    /// <summary>The address of the shared exchange; the routing key picks the mailbox.</summary>
    public static readonly Uri ExchangeAddress = new($"exchange:{ExchangeName}?type=direct");

    /// <summary>
    /// Sends <paramref name="message"/> to the worker whose mailbox is at <paramref name="workerAddress"/>: on RabbitMQ through
    /// the shared exchange; on the in-memory transport, where nothing is deleted under a sender, to the address itself.
    /// </summary>
    public static Task SendAsync<T>(ISendEndpointProvider provider, string workerAddress, T message, CancellationToken cancellationToken)
        where T : class => SendAsync(provider, new Uri(workerAddress), message, requestId: null, cancellationToken);

    /// <summary>
    /// Set on a worker's request whose response address is its mailbox: the answer then goes through the shared exchange
    /// (<see cref="RespondAsync"/>), like everything else for that worker.
    /// </summary>
    public const string ReplyToMailboxHeader = "Workers-Reply-To-Mailbox";

    /// <summary>
    /// Answers the request in <paramref name="context"/>: to the worker's mailbox, like a hand-over, when the request came from
    /// one (<see cref="ReplyToMailboxHeader"/>), so the answer to a worker that died meanwhile is dropped instead of failing
    /// this endpoint's channel; otherwise as MassTransit answers.
    /// </summary>
    public static async Task RespondAsync<T>(ConsumeContext context, T message)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.ResponseAddress is { } address && context.Headers.TryGetHeader(ReplyToMailboxHeader, out _))
            await SendAsync(context, address, message, context.RequestId, context.CancellationToken).ConfigureAwait(false);
        else
            await context.RespondAsync(message).ConfigureAwait(false);
    }

    /// <summary>
    /// On RabbitMQ through the shared exchange, routed by the mailbox's name; on the in-memory transport, where nothing is
    /// deleted under a sender, to the address itself. <paramref name="requestId"/> makes the message an answer.
    /// </summary>
    static async Task SendAsync<T>(ISendEndpointProvider provider, Uri address, T message, Guid? requestId, CancellationToken cancellationToken)
        where T : class
    {
        var rabbit = address.Scheme.StartsWith("rabbitmq", StringComparison.OrdinalIgnoreCase);
        var mailbox = rabbit ? MailboxName(address) : null;
        var endpoint = await provider.GetSendEndpoint(rabbit ? ExchangeAddress : address).ConfigureAwait(false);
        await endpoint.Send(message, send =>
        {
            if (mailbox is not null)
                send.SetRoutingKey(mailbox);
            if (requestId is not null)
                send.RequestId = requestId;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The mailbox's queue name: the last segment of its address (<c>rabbitmq://host/vhost/name?…</c>).</summary>
    public static string MailboxName(Uri address) => address.AbsolutePath.TrimEnd('/').Split('/')[^1];
}
