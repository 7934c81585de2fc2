using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Workers.Runs.Leases;
using Workers.Runs.Tests.Support;
using Workers.ServiceDefaults.Messaging;
using Workers.Worker.Intake;

namespace Workers.Runs.Tests.Intake;

/// <summary>
/// An endpoint that stops with its host is down, but that is no outage: the mailbox and the heartbeat endpoint warn only when
/// their queue or connection is lost.
/// </summary>
public sealed class EndpointStop_Specs
{
    static async Task<(WorkerMailbox Mailbox, IReceiveEndpointObserver Endpoint, RecordingLogger<WorkerMailbox> Logger)> StartedMailboxAsync()
    {
        var logger = new RecordingLogger<WorkerMailbox>();
        var mailbox = new WorkerMailbox(new ManualTime(), logger);
        await ((IReceiveEndpointObserver)mailbox).Ready(new EndpointStarted("mailbox"));
        return (mailbox, mailbox, logger);
    }

    [Fact]
    public async Task A_mailbox_that_stops_with_the_worker_is_down_without_a_warning()
    {
        var (mailbox, endpoint, logger) = await StartedMailboxAsync();

        await endpoint.Stopping(null!);
        // The transport's own end follows the stop; it is the same break, not a second one.
        await endpoint.Completed(null!);

        Assert.False(mailbox.IsReady);
        Assert.DoesNotContain(logger.Entries, e => e.Level >= LogLevel.Warning);
        Assert.Single(logger.Entries, e => e.Message.Contains("closed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_mailbox_whose_queue_is_lost_warns_that_it_is_down()
    {
        var (mailbox, endpoint, logger) = await StartedMailboxAsync();

        await endpoint.Faulted(null!);

        Assert.False(mailbox.IsReady);
        var warning = Assert.Single(logger.Entries, e => e.Level == LogLevel.Warning);
        Assert.Contains("mailbox is down", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_heartbeat_endpoint_that_stops_with_the_orchestrator_does_not_warn_but_a_lost_one_does()
    {
        var logger = new RecordingLogger<HeartbeatHearing>();
        var time = new ManualTime();
        var hearing = new HeartbeatHearing(time, Options.Create(new WorkersBusOptions { Transport = BusTransport.RabbitMq }), logger);
        IReceiveEndpointObserver endpoint = hearing;
        await endpoint.Ready(new EndpointStarted("run-leases"));

        await endpoint.Stopping(null!);
        Assert.DoesNotContain(logger.Entries, e => e.Level >= LogLevel.Warning);
        // Down all the same: no lease is judged lapsed until it has listened again.
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromSeconds(16), hearing.JudgesLeasesFrom(TimeSpan.FromSeconds(8)));

        await endpoint.Ready(new EndpointStarted("run-leases"));
        await endpoint.Faulted(null!);
        Assert.Single(logger.Entries, e => e.Level == LogLevel.Warning);
    }
}
