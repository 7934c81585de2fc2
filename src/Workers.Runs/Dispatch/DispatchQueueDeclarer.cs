using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using Workers.Agents.Runtimes;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Runs.Dispatch;

/// <summary>
/// Declares every runtime's dispatch queue before the orchestrator dispatches anything, with the same arguments
/// the workers' receive endpoints use. RabbitMQ drops messages sent to an exchange nothing is bound to, so
/// without this a run dispatched before any worker of its runtime had ever started would wait for the
/// re-dispatch timer instead of sitting in its queue.
/// </summary>
sealed class DispatchQueueDeclarer(IOptions<WorkersBusOptions> busOptions) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = busOptions.Value;
        if (options.Transport != BusTransport.RabbitMq || options.RabbitMqUrl is null)
            return;

        var factory = new ConnectionFactory { Uri = new Uri(options.RabbitMqUrl), ClientProvidedName = "workers-orchestrator-declare" };
        await using var connection = await factory.CreateConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        foreach (var runtime in RuntimeNames.All)
        {
            var name = RunQueues.ForRuntime(runtime);
            await DeclareAsync(channel, name, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Exchange and queue of one name, bound, as a MassTransit receive endpoint with priority declares them.</summary>
    internal static async Task DeclareAsync(IChannel channel, string name, CancellationToken cancellationToken)
    {
        // MassTransit writes x-max-priority as an int; the broker compares argument types too.
        var arguments = new Dictionary<string, object?> { ["x-max-priority"] = (int)RunQueues.MaxPriority };
        await channel.ExchangeDeclareAsync(name, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken).ConfigureAwait(false);
        await channel.QueueDeclareAsync(name, durable: true, exclusive: false, autoDelete: false, arguments, cancellationToken: cancellationToken).ConfigureAwait(false);
        await channel.QueueBindAsync(name, name, "", cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
