using MassTransit;
using Workers.Contracts;
using Workers.Runs.Dispatch;
using Workers.Runs.StateMachine;
using Workers.Runs.Tests.Support;

namespace Workers.Runs.Tests.Dispatch;

/// <summary>Idle workers' offered slots: a run accepted while one is live is leased to it at once and handed over.</summary>
public sealed class SlotOffer_Specs
{
    static SlotsOffered Offer(string worker, int slots, string runtime = "process", TimeSpan? validFor = null) => new()
    {
        WorkerId = worker,
        WorkerAddress = new Uri($"queue:{worker}"),
        OfferId = NewId.NextGuid(),
        Runtimes = [runtime],
        Slots = slots,
        ValidFor = validFor ?? TimeSpan.FromSeconds(2),
    };

    static SubmitRun Submission(Guid id, int priority = 3) => new() { RunId = id, Agent = "echo", Input = "hello", Priority = priority };

    [Fact]
    public void An_offer_gives_as_many_slots_as_it_holds_and_only_for_its_runtimes()
    {
        var offers = new SlotOffers(new ManualTime());
        var offer = Offer("worker-a", 2);
        offers.Add(offer);

        Assert.Null(offers.TryTake("native"));
        Assert.Equal(offer.OfferId, offers.TryTake("process")!.OfferId);
        Assert.Equal("worker-a", offers.TryTake("process")!.WorkerId);
        Assert.Null(offers.TryTake("process"));
        Assert.Equal(0, offers.Count);
    }

    [Fact]
    public void An_offer_lapses_after_its_validity_and_a_copy_of_it_adds_nothing()
    {
        var time = new ManualTime();
        var offers = new SlotOffers(time);
        var offer = Offer("worker-a", 3, validFor: TimeSpan.FromSeconds(2));
        offers.Add(offer);
        offers.Add(offer);
        Assert.Equal(1, offers.Count);

        time.Advance(TimeSpan.FromSeconds(2));

        Assert.Null(offers.TryTake("process"));
        Assert.Equal(0, offers.Count);
    }

    [Fact]
    public void A_workers_next_offer_replaces_its_last_one()
    {
        var offers = new SlotOffers(new ManualTime());
        offers.Add(Offer("worker-a", 3));
        var next = Offer("worker-a", 2);
        offers.Add(next);

        Assert.Equal(1, offers.Count);
        Assert.Equal(next.OfferId, offers.TryTake("process")!.OfferId);
        Assert.Equal(next.OfferId, offers.TryTake("process")!.OfferId);
        Assert.Null(offers.TryTake("process"));
    }

    [Fact]
    public void Runs_spread_over_the_offers_with_the_most_slots_left()
    {
        var offers = new SlotOffers(new ManualTime());
        offers.Add(Offer("worker-a", 2));
        offers.Add(Offer("worker-b", 3));

        var takers = Enumerable.Range(0, 5).Select(_ => offers.TryTake("process")!.WorkerId).ToList();

        Assert.Equal(["worker-b", "worker-a", "worker-b", "worker-a", "worker-b"], takers);
    }

    [Fact]
    public void An_offer_without_an_address_slots_or_runtimes_is_ignored()
    {
        var offers = new SlotOffers(new ManualTime());
        offers.Add(Offer("worker-a", 0));
        offers.Add(Offer("worker-a", 2) with { WorkerAddress = null });
        offers.Add(Offer("worker-a", 2) with { Runtimes = [] });

        Assert.Equal(0, offers.Count);
    }

    [Fact]
    public async Task A_run_accepted_while_a_slot_is_offered_is_leased_to_it_and_handed_over_without_a_dispatch()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var offer = Offer("worker-a", 1);
        fixture.Offers.Add(offer);
        var id = NewId.NextGuid();

        await fixture.Send(Submission(id, priority: 6));

        var run = await fixture.WaitFor(id, m => m.Running);
        Assert.Equal("worker-a", run.WorkerId);
        Assert.Equal(offer.OfferId, run.ClaimId);
        Assert.Equal("queue:worker-a", run.WorkerAddress);
        Assert.NotNull(run.StartedAt);
        Assert.NotNull(run.LeaseExpiresAt);
        await fixture.WaitForSent<RunAssigned>(m => m.Run.RunId == id);
        var assigned = fixture.Harness.Sent.Select<RunAssigned>(TestContext.Current.CancellationToken).Single(m => m.Context.Message.Run.RunId == id);
        Assert.Equal(offer.OfferId, assigned.Context.Message.OfferId);
        Assert.Equal(run.LeaseId, assigned.Context.Message.Lease.LeaseId);
        Assert.Equal(1, assigned.Context.Message.Run.Attempt);
        Assert.Equal(6, assigned.Context.Message.Run.Priority);
        Assert.Equal("echo.sh", assigned.Context.Message.Run.Agent.Settings!.Value.GetProperty("command").GetString());
        Assert.Equal("worker-a", assigned.Context.DestinationAddress!.AbsolutePath.TrimStart('/'));
        Assert.Equal(0, fixture.Dispatches(id, 1));

        // The offer had one slot: the next run goes through the queue.
        var next = NewId.NextGuid();
        await fixture.Send(Submission(next));
        await fixture.WaitFor(next, m => m.Queued);
        await fixture.WaitForSent<ExecuteRun>(m => m.RunId == next);

        await fixture.Send(new RunSucceeded { RunId = id, Attempt = 1, LeaseId = assigned.Context.Message.Lease.LeaseId, Output = "done" });
        await fixture.WaitFor(id, m => m.Succeeded);
    }

    [Fact]
    public async Task An_assigned_run_its_worker_hands_back_goes_to_the_queue_as_a_restart()
    {
        await using var fixture = await SagaFixture.StartAsync();
        fixture.Offers.Add(Offer("worker-a", 1));
        var id = NewId.NextGuid();
        await fixture.Send(Submission(id));
        var run = await fixture.WaitFor(id, m => m.Running);

        await fixture.Send(new RunReleased { RunId = id, Attempt = 1, LeaseId = run.LeaseId!.Value, WorkerId = "worker-a", Reason = "not started: no free slot" });

        var requeued = await fixture.WaitFor(id, m => m.Queued);
        Assert.Equal(2, requeued.Attempt);
        Assert.Equal(1, requeued.ReleasedAttempts);
        await fixture.WaitForSent<ExecuteRun>(m => m.RunId == id && m.Attempt == 2);
    }

    [Fact]
    public async Task A_rejected_submission_takes_no_offered_slot()
    {
        await using var fixture = await SagaFixture.StartAsync();
        fixture.Offers.Add(Offer("worker-a", 1));
        var id = NewId.NextGuid();

        await fixture.Send(Submission(id) with { Agent = "nope" });

        await fixture.WaitFor(id, m => m.Rejected);
        Assert.Equal(1, fixture.Offers.Count);
    }
}
