using MassTransit;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Workers.Runs.Tests.Support;
using Workers.Worker;
using Workers.Worker.Intake;

namespace Workers.Runs.Tests.Intake;

/// <summary>When a worker judges its mailbox stuck: down while the broker is reachable, for the whole limit.</summary>
public sealed class MailboxWatch_Specs
{
    static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);

    sealed class Fixture
    {
        public ManualTime Time { get; } = new();
        public IReceiveEndpointObserver Mailbox { get; }
        public IReceiveEndpointObserver RuntimeQueue { get; }
        public IReceiveEndpointObserver Restarts { get; }
        public MailboxWatch Watch { get; }

        public Fixture()
        {
            var mailbox = new WorkerMailbox(Time, NullLogger<WorkerMailbox>.Instance);
            var reach = new BrokerReach(Time);
            Mailbox = mailbox;
            RuntimeQueue = reach.NewEndpoint();
            Restarts = reach.NewEndpoint();
            Watch = new MailboxWatch(mailbox, reach, new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance), Time,
                Options.Create(new WorkerOptions()), NullLogger<MailboxWatch>.Instance);
        }

        public async Task AllUpAsync()
        {
            foreach (var endpoint in new[] { Mailbox, RuntimeQueue, Restarts })
                await endpoint.Ready(new EndpointStarted("queue"));
        }

        /// <summary>Every endpoint up, then the mailbox down.</summary>
        public static async Task<Fixture> WithMailboxDownAsync()
        {
            var fixture = new Fixture();
            await fixture.AllUpAsync();
            await fixture.Mailbox.Faulted(null!);
            return fixture;
        }

        /// <summary>Not stuck a second before <see cref="Limit"/> from now, stuck at it.</summary>
        public void AssertStuckOnceTheLimitHasPassed()
        {
            Time.Advance(Limit - TimeSpan.FromSeconds(1));
            Assert.False(Watch.IsStuck(Limit));
            Time.Advance(TimeSpan.FromSeconds(1));
            Assert.True(Watch.IsStuck(Limit));
        }
    }

    [Fact]
    public async Task A_mailbox_down_while_the_other_queues_consume_is_stuck_once_the_limit_has_passed()
    {
        var fixture = new Fixture();
        await fixture.AllUpAsync();
        fixture.Time.Advance(TimeSpan.FromHours(1));
        Assert.False(fixture.Watch.IsStuck(Limit));

        await fixture.Mailbox.Faulted(null!);
        fixture.AssertStuckOnceTheLimitHasPassed();

        // Back, even late, it is not stuck any more.
        await fixture.Mailbox.Ready(new EndpointStarted("queue"));
        Assert.False(fixture.Watch.IsStuck(Limit));
    }

    [Fact]
    public async Task Time_while_the_broker_is_out_of_reach_does_not_count()
    {
        var fixture = new Fixture();
        await fixture.AllUpAsync();

        // The broker restarts: every endpoint goes down, for longer than the limit.
        foreach (var endpoint in new[] { fixture.Mailbox, fixture.RuntimeQueue, fixture.Restarts })
            await endpoint.Faulted(null!);
        fixture.Time.Advance(2 * Limit);
        Assert.False(fixture.Watch.IsStuck(Limit));

        // One queue is back: the mailbox is now judged from then, not from when it went down.
        await fixture.Restarts.Ready(new EndpointStarted("queue"));
        fixture.AssertStuckOnceTheLimitHasPassed();
    }

    [Fact]
    public async Task The_broker_is_out_of_reach_only_once_every_other_queue_is_down()
    {
        var fixture = await Fixture.WithMailboxDownAsync();
        // One queue's channel fails and comes back; the other kept consuming all along: the broker stayed within reach.
        await fixture.RuntimeQueue.Faulted(null!);
        fixture.Time.Advance(TimeSpan.FromSeconds(30));
        await fixture.RuntimeQueue.Ready(new EndpointStarted("queue"));
        // A second start without a break in between changes nothing.
        await fixture.RuntimeQueue.Ready(new EndpointStarted("queue"));
        fixture.Time.Advance(Limit - TimeSpan.FromSeconds(30));
        Assert.True(fixture.Watch.IsStuck(Limit));
    }

    [Fact]
    public async Task A_limit_of_zero_never_judges_the_mailbox_stuck()
    {
        var fixture = await Fixture.WithMailboxDownAsync();
        fixture.Time.Advance(TimeSpan.FromDays(1));
        Assert.False(fixture.Watch.IsStuck(TimeSpan.Zero));
        Assert.True(fixture.Watch.IsStuck(Limit));
    }

    [Fact]
    public void Stuck_time_runs_from_the_later_of_the_mailbox_going_down_and_the_broker_coming_within_reach()
    {
        var now = new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
        Assert.Null(MailboxWatch.StuckFor(null, now.AddMinutes(-5), now));
        Assert.Null(MailboxWatch.StuckFor(now.AddMinutes(-5), null, now));
        Assert.Equal(TimeSpan.FromMinutes(1), MailboxWatch.StuckFor(now.AddMinutes(-1), now.AddMinutes(-5), now));
        Assert.Equal(TimeSpan.FromMinutes(1), MailboxWatch.StuckFor(now.AddMinutes(-5), now.AddMinutes(-1), now));
    }
}
