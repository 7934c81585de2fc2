using System.Text.Json;

using Workers.Testing;

namespace Workers.Benchmarks;

/// <summary>
/// Message totals of one vhost from the management API (<c>GET /api/vhosts/{vhost}</c>, <c>message_stats</c>).
/// The broker refreshes them every few seconds (<c>collect_statistics_interval</c>, 5 s by default), so read them
/// again only once that much time has passed after the traffic of interest.
/// </summary>
public sealed record BrokerCounters(long Published, long Delivered, long Acked, long Redelivered, long DroppedUnroutable)
{
    /// <summary>How long to wait after the traffic before the counters include all of it.</summary>
    public static readonly TimeSpan Refresh = TimeSpan.FromSeconds(6);

    public static async Task<BrokerCounters> ReadAsync(RabbitMqTestVhost vhost, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(vhost);
        var body = await vhost.GetManagementResourceAsync("vhosts", cancellationToken);
        if (!body.TryGetProperty("message_stats", out var stats))
            return new BrokerCounters(0, 0, 0, 0, 0);
        long Read(string name) => stats.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetInt64() : 0;
        return new BrokerCounters(Read("publish"), Read("deliver_get"), Read("ack"), Read("redeliver"), Read("drop_unroutable"));
    }

    public static BrokerCounters operator -(BrokerCounters after, BrokerCounters before)
    {
        ArgumentNullException.ThrowIfNull(after);
        ArgumentNullException.ThrowIfNull(before);
        return new BrokerCounters(after.Published - before.Published, after.Delivered - before.Delivered, after.Acked - before.Acked,
            after.Redelivered - before.Redelivered, after.DroppedUnroutable - before.DroppedUnroutable);
    }
}
