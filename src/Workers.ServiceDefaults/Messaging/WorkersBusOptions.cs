using System.ComponentModel.DataAnnotations;

namespace Workers.ServiceDefaults.Messaging;

/// <summary>Which message transport the fleet uses. Section <c>Workers:Bus</c>.</summary>
public sealed class WorkersBusOptions
{
    public const string SectionName = "Workers:Bus";

    /// <summary><c>InMemory</c> (one process: the embedded mode) or <c>RabbitMq</c> (the distributed mode).</summary>
    public BusTransport Transport { get; set; } = BusTransport.InMemory;

    /// <summary>
    /// RabbitMQ URL, e.g. <c>amqp://guest:guest@localhost:5672/</c> (the path is the vhost). Required with
    /// <see cref="BusTransport.RabbitMq"/>; the <c>RABBITMQ_URL</c> environment variable is used when unset.
    /// </summary>
    public string? RabbitMqUrl { get; set; }
}

/// <summary>Message transports.</summary>
public enum BusTransport
{
    InMemory,
    RabbitMq,
}
