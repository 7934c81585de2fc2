using MassTransit;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Workers.Runs.Leases;
using Workers.Runs.Tests.Support;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Runs.Tests.Leases;

/// <summary>When the orchestrator may judge a lease lapsed, after its heartbeat endpoint's starts and breaks.</summary>
public sealed class HeartbeatHearing_Specs
{
    static readonly TimeSpan Lease = TimeSpan.FromSeconds(8);

    static (HeartbeatHearing Hearing, IReceiveEndpointObserver Endpoint, ManualTime Time) Create(BusTransport transport)
    {
        var time = new ManualTime();
        var hearing = new HeartbeatHearing(time, Options.Create(new WorkersBusOptions { Transport = transport }), NullLogger<HeartbeatHearing>.Instance);
        return (hearing, hearing, time);
    }

    [Fact]
    public async Task Leases_are_judged_one_lease_after_the_first_start_and_two_after_a_break()
    {
        var (hearing, endpoint, time) = Create(BusTransport.RabbitMq);
        var start = time.GetUtcNow();
        // Before the endpoint has started nothing is heard: no sooner than two leases from now.
        Assert.Equal(start + 2 * Lease, hearing.JudgesLeasesFrom(Lease));

        time.Advance(TimeSpan.FromSeconds(1));
        await endpoint.Ready(new EndpointStarted("run-leases"));
        Assert.Equal(start + TimeSpan.FromSeconds(1) + Lease, hearing.JudgesLeasesFrom(Lease));

        time.Advance(TimeSpan.FromSeconds(30));
        await endpoint.Faulted(null!);
        var brokeAt = time.GetUtcNow();
        Assert.Equal(brokeAt + 2 * Lease, hearing.JudgesLeasesFrom(Lease));
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(brokeAt + TimeSpan.FromSeconds(5) + 2 * Lease, hearing.JudgesLeasesFrom(Lease));

        await endpoint.Ready(new EndpointStarted("run-leases"));
        var backAt = time.GetUtcNow();
        time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(backAt + 2 * Lease, hearing.JudgesLeasesFrom(Lease));
    }

    [Fact]
    public async Task A_start_without_a_reported_break_still_counts_as_one()
    {
        var (hearing, endpoint, time) = Create(BusTransport.RabbitMq);
        await endpoint.Ready(new EndpointStarted("run-leases"));
        time.Advance(TimeSpan.FromSeconds(60));
        // The transport started the consumer again (its channel was lost) without a fault notice first.
        await endpoint.Ready(new EndpointStarted("run-leases"));
        Assert.Equal(time.GetUtcNow() + 2 * Lease, hearing.JudgesLeasesFrom(Lease));
    }

    [Fact]
    public async Task With_the_in_memory_transport_leases_are_judged_at_once()
    {
        var (hearing, endpoint, _) = Create(BusTransport.InMemory);
        Assert.Equal(DateTimeOffset.MinValue, hearing.JudgesLeasesFrom(Lease));
        await endpoint.Faulted(null!);
        Assert.Equal(DateTimeOffset.MinValue, hearing.JudgesLeasesFrom(Lease));
    }
}
