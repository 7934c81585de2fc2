using MassTransit;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Worker.Intake;

/// <summary>
/// Whether this worker reaches the broker, judged by its receive endpoints other than the mailbox (its runtime queues and
/// restart notices): they share the mailbox's connection, so while one of them consumes, the connection works, and a
/// mailbox that stays down is stuck rather than waiting for the broker (<see cref="MailboxWatch"/>).
/// </summary>
public sealed class BrokerReach(TimeProvider time)
{
    readonly Lock _lock = new();
    int _up;
    DateTimeOffset? _since;

    /// <summary>Since when at least one watched endpoint has been consuming without a break; null while none is.</summary>
    public DateTimeOffset? ReachableSince
    {
        get
        {
            lock (_lock)
                return _since;
        }
    }

    /// <summary>Counts <paramref name="endpoint"/> among the endpoints that show the connection works.</summary>
    public void Watch(IReceiveEndpointConfigurator endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        endpoint.ConnectReceiveEndpointObserver(NewEndpoint());
    }

    /// <summary>An observer for one more watched endpoint, to be connected to it.</summary>
    public IReceiveEndpointObserver NewEndpoint() => new Endpoint(this);

    void Set(Endpoint endpoint, bool up)
    {
        lock (_lock)
        {
            if (endpoint.IsUp == up)
                return;
            endpoint.IsUp = up;
            _up += up ? 1 : -1;
            if (up && _up == 1)
                _since = time.GetUtcNow();
            else if (_up == 0)
                _since = null;
        }
    }

    /// <summary>One watched endpoint; its state is guarded by the reach's lock.</summary>
    sealed class Endpoint(BrokerReach reach) : ReceiveEndpointUpDown
    {
        public bool IsUp { get; set; }

        protected override void Up(IReceiveEndpoint endpoint) => reach.Set(this, up: true);

        protected override void Down(bool stopping) => reach.Set(this, up: false);
    }
}
