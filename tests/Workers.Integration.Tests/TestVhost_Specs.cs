using System.Text.Json;
using RabbitMQ.Client;
using Workers.Testing;

namespace Workers.Integration.Tests;

/// <summary>The test vhost's broker settings, which the benchmark's <c>--queue-policy</c> relies on.</summary>
public sealed class TestVhost_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_queue_policy_reaches_the_queues_of_the_vhost_declared_before_it()
    {
        await using var vhost = await RabbitMqTestVhost.CreateAsync(Ct);
        await using (var connection = await new ConnectionFactory { Uri = vhost.AmqpUrl }.CreateConnectionAsync(Ct))
        await using (var channel = await connection.CreateChannelAsync(cancellationToken: Ct))
            await channel.QueueDeclareAsync("runs-process", durable: true, exclusive: false, autoDelete: false, cancellationToken: Ct);

        await vhost.SetQueuePolicyAsync("bench-queues", ".*", JsonDocument.Parse("""{"max-length":7}""").RootElement, Ct);

        // The management API shows a queue's policy once the broker has applied it (its figures refresh every few seconds).
        var deadline = DateTime.UtcNow.AddSeconds(20);
        JsonElement queue;
        while (true)
        {
            queue = await vhost.GetManagementResourceAsync("queues/runs-process", Ct);
            if (queue.TryGetProperty("policy", out var policy) && policy.ValueKind == JsonValueKind.String || DateTime.UtcNow > deadline)
                break;
            await Task.Delay(250, Ct);
        }
        Assert.Equal("bench-queues", queue.GetProperty("policy").GetString());
        Assert.Equal(7, queue.GetProperty("effective_policy_definition").GetProperty("max-length").GetInt32());
    }
}
