using MassTransit;

namespace Workers.Runs.Tests.Support;

/// <summary>The notice MassTransit gives when a receive endpoint starts consuming.</summary>
public sealed class EndpointStarted(string queue) : ReceiveEndpointReady
{
    public Uri InputAddress { get; } = new($"rabbitmq://localhost/{queue}");
    public IReceiveEndpoint ReceiveEndpoint => null!;
    public bool IsStarted => true;
}
