using MassTransit;
using MassTransit.Testing;
using Workers.Contracts;
using Workers.Runs.Leases;
using Workers.Runs.StateMachine;
using Workers.Runs.Tests.Persistence;
using Workers.Runs.Tests.Results;
using Workers.Runs.Tests.Support;
using Workers.Worker.Intake;

namespace Workers.Runs.Tests.Leases;

/// <summary>
/// A worker's batched claims (<see cref="ClaimBatcher"/>) against the orchestrator's <see cref="ClaimBatchConsumer"/> on
/// MassTransit's in-memory harness, with the saga-state table on real PostgreSQL and SQLite.
/// </summary>
public sealed class ClaimBatch_Specs
{
    public static TheoryData<string> Providers => RunStore_Specs.Providers;

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Claims_follow_the_saga_rules_a_queued_current_attempt_is_granted_everything_else_is_refused_with_why(string provider)
    {
        await using var store = await StoreFixture.CreateAsync(provider);
        await using var fleet = await BatchFleet.StartAsync(store.Store);
        var queued = await fleet.AddAsync(RunStates.Queued);
        var stale = await fleet.AddAsync(RunStates.Queued, attempt: 2);
        var taken = await fleet.AddAsync(RunStates.Running, claimId: Guid.NewGuid());
        var cancelling = await fleet.AddAsync(RunStates.Cancelling);
        var finished = await fleet.AddAsync(RunStates.Succeeded);
        var unknown = Guid.NewGuid();

        var answers = await Task.WhenAll(
            fleet.Batcher.ClaimAsync(queued.CorrelationId, 1),
            fleet.Batcher.ClaimAsync(stale.CorrelationId, 1),
            fleet.Batcher.ClaimAsync(taken.CorrelationId, 1),
            fleet.Batcher.ClaimAsync(cancelling.CorrelationId, 1),
            fleet.Batcher.ClaimAsync(finished.CorrelationId, 1),
            fleet.Batcher.ClaimAsync(unknown, 1));

        var granted = Assert.IsType<RunClaimed>(answers[0].Granted);
        var row = (await store.Store.LoadAsync(queued.CorrelationId, Ct))!;
        Assert.Equal(RunStates.Running, row.CurrentState);
        Assert.Equal(granted.LeaseId, row.LeaseId);
        // The stored time has the column's precision (milliseconds in SQLite).
        Assert.Equal(granted.LeaseExpiresAt, row.LeaseExpiresAt!.Value, TimeSpan.FromMilliseconds(1));
        Assert.Equal(BatchFleet.WorkerId, row.WorkerId);
        Assert.NotNull(row.StartedAt);
        Assert.Equal(queued.Version + 1, row.Version);

        Assert.Equal(("Queued", "the attempt is stale"), Refusal(answers[1]));
        Assert.Equal(("Running", "the run is already claimed"), Refusal(answers[2]));
        Assert.Equal(("Cancelling", "the run is being cancelled"), Refusal(answers[3]));
        Assert.Equal(("Succeeded", "the run has finished"), Refusal(answers[4]));
        Assert.Equal(("Unknown", "no such run"), Refusal(answers[5]));
        // Refusals write nothing.
        Assert.Equal(taken.Version, (await store.Store.LoadAsync(taken.CorrelationId, Ct))!.Version);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Claims_made_while_a_request_is_in_flight_leave_together_in_the_next_one_and_are_granted_in_one_commit(string provider)
    {
        await using var store = await StoreFixture.CreateAsync(provider);
        await using var fleet = await BatchFleet.StartAsync(store.Store);
        var runs = new List<RunState>();
        for (var i = 0; i < 21; i++)
            runs.Add(await fleet.AddAsync(RunStates.Queued));

        // The first claim leaves at once and is held until the other twenty have been made.
        var answers = await Task.WhenAll(await fleet.WithFirstPublishHeldAsync(
            () => fleet.Batcher.ClaimAsync(runs[0].CorrelationId, 1),
            () => runs.Skip(1).Select(r => fleet.Batcher.ClaimAsync(r.CorrelationId, 1))));

        Assert.All(answers, a => Assert.NotNull(a.Granted));
        Assert.Equal(21, answers.Select(a => a.Granted!.LeaseId).Distinct().Count());
        var requests = fleet.Harness.Consumed.Select<ClaimRuns>(Ct).Select(m => m.Context.Message.Claims.Count).ToList();
        Assert.Equal([1, 20], requests);
        foreach (var run in runs)
            Assert.Equal(RunStates.Running, (await store.Store.LoadAsync(run.CorrelationId, Ct))!.CurrentState);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Two_copies_of_one_dispatch_in_a_batch_get_the_lease_once(string provider)
    {
        await using var store = await StoreFixture.CreateAsync(provider);
        await using var fleet = await BatchFleet.StartAsync(store.Store);
        var first = await fleet.AddAsync(RunStates.Queued);
        var twice = await fleet.AddAsync(RunStates.Queued);

        // Both copies are claimed while the first request is held, so they leave together in the second.
        var answers = await Task.WhenAll(await fleet.WithFirstPublishHeldAsync(
            () => fleet.Batcher.ClaimAsync(first.CorrelationId, 1),
            () => [fleet.Batcher.ClaimAsync(twice.CorrelationId, 1), fleet.Batcher.ClaimAsync(twice.CorrelationId, 1)]));

        var requests = fleet.Harness.Consumed.Select<ClaimRuns>(Ct).Select(m => m.Context.Message.Claims.Select(c => c.RunId).ToList()).ToList();
        Assert.Equal([[first.CorrelationId], [twice.CorrelationId, twice.CorrelationId]], requests);
        Assert.NotNull(answers[0].Granted);
        Assert.Single(answers[1..], a => a.Granted is not null);
        Assert.Single(answers[1..], a => a.Rejected is { Reason: "the run is already claimed" });
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Successes_made_while_a_claim_is_in_flight_ride_in_the_next_claim_request_and_are_kept_by_the_saga_rule(string provider)
    {
        await using var store = await StoreFixture.CreateAsync(provider);
        await using var fleet = await BatchFleet.StartAsync(store.Store);
        var first = await fleet.AddAsync(RunStates.Queued);
        var next = await fleet.AddAsync(RunStates.Queued);
        var done = await fleet.AddAsync(RunStates.Running, claimId: Guid.NewGuid());
        var alsoClaimed = await fleet.AddAsync(RunStates.Running, claimId: Guid.NewGuid());
        var staleLease = await fleet.AddAsync(RunStates.Running, claimId: Guid.NewGuid());

        // The first claim is held until two claims and three successes have been made behind it.
        var sent = await fleet.WithFirstPublishHeldAsync<Task>(
            () => fleet.Batcher.ClaimAsync(first.CorrelationId, 1),
            () =>
            [
                fleet.Reporter.ReportAsync(SuccessBatch_Specs.Success(done, "done")),
                fleet.Reporter.ReportAsync(SuccessBatch_Specs.Success(alsoClaimed, "also")),
                fleet.Reporter.ReportAsync(SuccessBatch_Specs.Success(staleLease, "stale") with { LeaseId = Guid.NewGuid() }),
                fleet.Batcher.ClaimAsync(next.CorrelationId, 1),
                // A copy of the dispatch of a run whose success rides in the same request.
                fleet.Batcher.ClaimAsync(alsoClaimed.CorrelationId, 1),
            ]);
        await Task.WhenAll(sent).WaitAsync(TimeSpan.FromSeconds(30), Ct);

        var requests = fleet.Harness.Consumed.Select<ClaimRuns>(Ct).Select(m => m.Context.Message).ToList();
        Assert.Equal([[first.CorrelationId], [next.CorrelationId, alsoClaimed.CorrelationId]], requests.Select(r => r.Claims.Select(c => c.RunId).ToList()).ToList());
        Assert.Equal([[], [done.CorrelationId, alsoClaimed.CorrelationId, staleLease.CorrelationId]], requests.Select(r => r.Succeeded.Select(s => s.RunId).ToList()).ToList());
        // Nothing left on its own: the successes were safe once the answer came.
        Assert.Empty(fleet.Harness.Published.Select<RunSucceeded>(Ct));
        Assert.Empty(fleet.Harness.Published.Select<RunsSucceeded>(Ct));

        var kept = (await store.Store.LoadAsync(done.CorrelationId, Ct))!;
        Assert.Equal((RunStates.Succeeded, "done"), (kept.CurrentState, kept.Output));
        Assert.Equal(RunStates.Succeeded, (await store.Store.LoadAsync(alsoClaimed.CorrelationId, Ct))!.CurrentState);
        // A success that does not hold the run's lease is ignored, as the saga ignores it.
        var ignored = (await store.Store.LoadAsync(staleLease.CorrelationId, Ct))!;
        Assert.Equal((RunStates.Running, staleLease.Version), (ignored.CurrentState, ignored.Version));
        Assert.NotNull((await (Task<ClaimAnswer>)sent[4]).Granted);
        // The successes are recorded before the claims are judged: the run that one of them ended is not claimed again.
        Assert.Equal(("Succeeded", "the run has finished"), Refusal(await (Task<ClaimAnswer>)sent[5]));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Successes_in_a_claim_request_that_got_no_answer_are_published_again_on_their_own(string provider)
    {
        await using var store = await StoreFixture.CreateAsync(provider);
        await using var fleet = await BatchFleet.StartAsync(store.Store, answerClaims: false, claimTimeout: TimeSpan.FromSeconds(1));
        var first = await fleet.AddAsync(RunStates.Queued);
        var next = await fleet.AddAsync(RunStates.Queued);
        var done = new[] { await fleet.AddAsync(RunStates.Running, claimId: Guid.NewGuid()), await fleet.AddAsync(RunStates.Running, claimId: Guid.NewGuid()) };

        var sent = await fleet.WithFirstPublishHeldAsync<Task>(
            () => fleet.Batcher.ClaimAsync(first.CorrelationId, 1),
            () => [.. done.Select(r => fleet.Reporter.ReportAsync(SuccessBatch_Specs.Success(r, "done"))), fleet.Batcher.ClaimAsync(next.CorrelationId, 1)]);
        await Task.WhenAll(sent).WaitAsync(TimeSpan.FromSeconds(30), Ct);

        var rode = Assert.Single(fleet.Harness.Published.Select<ClaimRuns>(Ct), m => m.Context.Message.Succeeded.Count > 0).Context.Message;
        Assert.Equal(done.Select(r => r.CorrelationId), rode.Succeeded.Select(s => s.RunId));
        // No answer: the claims are given up (the runs are dispatched again later), the successes are published once more.
        Assert.Equal([default, default], [await (Task<ClaimAnswer>)sent[0], await (Task<ClaimAnswer>)sent[3]]);
        var again = Assert.Single(fleet.Harness.Published.Select<RunsSucceeded>(Ct)).Context.Message;
        Assert.Equal(done.Select(r => r.CorrelationId), again.Results.Select(s => s.RunId));
        foreach (var run in done)
            await SuccessBatch_Specs.WaitForStateAsync(store, run, RunStates.Succeeded);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_batch_write_lands_whole_or_not_at_all(string provider)
    {
        await using var store = await StoreFixture.CreateAsync(provider);
        var a = StoreFixture.NewRun(DateTimeOffset.UtcNow);
        var b = StoreFixture.NewRun(DateTimeOffset.UtcNow);
        await store.Store.InsertAsync(a, Ct);
        await store.Store.InsertAsync(b, Ct);
        var read = await store.Store.LoadManyAsync([a.CorrelationId, b.CorrelationId], Ct);
        // Someone else moves b after the batch read it.
        var other = (await store.Store.LoadAsync(b.CorrelationId, Ct))!;
        other.LastError = "moved by someone else";
        await store.Store.UpdateAsync(other, Ct);

        read[a.CorrelationId].CurrentState = RunStates.Running;
        read[b.CorrelationId].CurrentState = RunStates.Running;
        await Assert.ThrowsAsync<ConcurrencyException>(() => store.Store.UpdateAllAsync([read[a.CorrelationId], read[b.CorrelationId]], Ct));

        Assert.Equal(RunStates.Queued, (await store.Store.LoadAsync(a.CorrelationId, Ct))!.CurrentState);
        Assert.Equal(1, read[a.CorrelationId].Version);
        Assert.Equal("moved by someone else", (await store.Store.LoadAsync(b.CorrelationId, Ct))!.LastError);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_claim_the_orchestrators_stale_copy_would_refuse_is_judged_again_on_the_row(string provider)
    {
        await using var store = await StoreFixture.CreateAsync(provider);
        await using var fleet = await BatchFleet.StartAsync(store.Store);
        // Inserted here, so this store holds a copy of attempt 1; another orchestrator then queued attempt 2.
        var run = await fleet.AddAsync(RunStates.Queued);
        await store.WriteElsewhereAsync(run.CorrelationId, r => r.Attempt = 2);

        var answer = await fleet.Batcher.ClaimAsync(run.CorrelationId, 2);

        var granted = Assert.IsType<RunClaimed>(answer.Granted);
        Assert.Equal(2, granted.Attempt);
        var row = (await store.Store.LoadAsync(run.CorrelationId, Ct))!;
        Assert.Equal((RunStates.Running, 2, granted.LeaseId), (row.CurrentState, row.Attempt, row.LeaseId));
    }

    static (string State, string Reason) Refusal(ClaimAnswer answer)
    {
        Assert.Null(answer.Granted);
        var refused = Assert.IsType<ClaimRejected>(answer.Rejected);
        return (refused.State, refused.Reason);
    }
}
