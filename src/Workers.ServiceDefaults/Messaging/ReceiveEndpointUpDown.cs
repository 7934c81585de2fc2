using MassTransit;

namespace Workers.ServiceDefaults.Messaging;

/// <summary>
/// MassTransit's notices about one receive endpoint reduced to the two that matter to whoever depends on it: up (it
/// consumes) and down (it does not, until the next up). Every start after the first follows a break, whether or not the
/// break was reported first.
/// </summary>
public abstract class ReceiveEndpointUpDown : IReceiveEndpointObserver
{
    /// <summary>The endpoint has started consuming, for the first time or again.</summary>
    protected abstract void Up(IReceiveEndpoint endpoint);

    /// <summary>
    /// The endpoint has stopped consuming: faulted (its queue or connection lost), ended, or stopping. <paramref name="stopping"/>
    /// is true for an orderly stop (the bus stops with its host, or the endpoint is removed), which is no outage to warn of.
    /// </summary>
    protected abstract void Down(bool stopping);

    Task IReceiveEndpointObserver.Ready(ReceiveEndpointReady ready)
    {
        ArgumentNullException.ThrowIfNull(ready);
        Up(ready.ReceiveEndpoint);
        return Task.CompletedTask;
    }

    // MassTransit raises Stopping only from the endpoint's own Stop (before it stops the transport); a lost channel or
    // connection reaches the endpoint as Faulted or Completed instead.
    Task IReceiveEndpointObserver.Stopping(ReceiveEndpointStopping stopping) => NoticeDown(stopping: true);

    // A consumer that ends without a fault (its channel closed under it) completes; the transport then starts another.
    Task IReceiveEndpointObserver.Completed(ReceiveEndpointCompleted completed) => NoticeDown(stopping: false);

    Task IReceiveEndpointObserver.Faulted(ReceiveEndpointFaulted faulted) => NoticeDown(stopping: false);

    Task NoticeDown(bool stopping)
    {
        Down(stopping);
        return Task.CompletedTask;
    }
}
