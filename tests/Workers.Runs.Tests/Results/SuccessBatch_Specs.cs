using MassTransit;
using MassTransit.Testing;
using Workers.Contracts;
using Workers.Runs.StateMachine;
using Workers.Runs.Tests.Persistence;
using Workers.Runs.Tests.Support;

namespace Workers.Runs.Tests.Results;

/// <summary>
/// A worker's successes reported through <see cref="Worker.Execution.ResultReporter"/>, batched while a publish waits for its
/// confirm, and recorded by the orchestrator's <see cref="SuccessBatchConsumer"/> over real PostgreSQL and SQLite.
/// </summary>
public sealed class SuccessBatch_Specs
{
    public static TheoryData<string> Providers => RunStore_Specs.Providers;

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_batch_keeps_the_successes_the_saga_would_keep_and_ignores_the_rest(string provider)
    {
        await using var store = await StoreFixture.CreateAsync(provider);
        await using var fleet = await BatchFleet.StartAsync(store.Store);
        var running = await fleet.AddAsync(RunStates.Running, claimId: Guid.NewGuid());
        var cancelling = await fleet.AddAsync(RunStates.Cancelling, claimId: Guid.NewGuid());
        var otherLease = await fleet.AddAsync(RunStates.Running, claimId: Guid.NewGuid());
        var lapsed = await fleet.AddAsync(RunStates.Queued, claimId: Guid.NewGuid());
        lapsed.ErrorKind = RunLifecycle.LeaseExpiredKind;
        lapsed.LeaseExpiresAt = null;
        await store.Store.UpdateAsync(lapsed, Ct);
        var failed = await fleet.AddAsync(RunStates.Failed, claimId: Guid.NewGuid());

        await fleet.Harness.Bus.Publish(new RunsSucceeded
        {
            Results =
            [
                Success(running, "done"),
                Success(cancelling, "finished before the stop"),
                Success(otherLease, "stale") with { LeaseId = Guid.NewGuid() },
                Success(lapsed, "late but done"),
                Success(failed, "too late"),
                new RunSucceeded { RunId = Guid.NewGuid(), LeaseId = Guid.NewGuid(), Output = "unknown run" },
            ],
        }, Ct);
        await WaitForStateAsync(store, running, RunStates.Succeeded);

        Assert.Equal((RunStates.Succeeded, "done"), await StateAndOutput(store, running));
        Assert.Equal((RunStates.Succeeded, "finished before the stop"), await StateAndOutput(store, cancelling));
        Assert.Equal((RunStates.Succeeded, "late but done"), await StateAndOutput(store, lapsed));
        Assert.Equal((RunStates.Running, (string?)null), await StateAndOutput(store, otherLease));
        Assert.Equal((RunStates.Failed, (string?)null), await StateAndOutput(store, failed));
        var finished = (await store.Store.LoadAsync(running.CorrelationId, Ct))!;
        Assert.NotNull(finished.FinishedAt);
        Assert.Null(finished.LeaseExpiresAt);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Successes_made_while_a_publish_waits_for_its_confirm_leave_together_in_the_next_message(string provider)
    {
        await using var store = await StoreFixture.CreateAsync(provider);
        await using var fleet = await BatchFleet.StartAsync(store.Store);
        var runs = new List<RunState>();
        for (var i = 0; i < 21; i++)
            runs.Add(await fleet.AddAsync(RunStates.Running, claimId: Guid.NewGuid()));

        // The first publish is held until the other twenty have been reported.
        await Task.WhenAll(await fleet.WithFirstPublishHeldAsync(
            () => fleet.Reporter.ReportAsync(Success(runs[0], "0")),
            () => runs.Skip(1).Select((r, i) => fleet.Reporter.ReportAsync(Success(r, (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture))))));

        Assert.Single(fleet.Harness.Published.Select<RunSucceeded>(Ct));
        var batch = Assert.Single(fleet.Harness.Published.Select<RunsSucceeded>(Ct)).Context.Message;
        Assert.Equal(runs.Skip(1).Select(r => r.CorrelationId), batch.Results.Select(r => r.RunId));
        await WaitForStateAsync(store, runs[^1], RunStates.Succeeded);
        foreach (var run in runs.Skip(1))
            Assert.Equal(RunStates.Succeeded, (await StateAndOutput(store, run)).State);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_success_the_orchestrators_stale_copy_would_ignore_is_judged_again_on_the_row_and_kept(string provider)
    {
        await using var store = await StoreFixture.CreateAsync(provider);
        await using var fleet = await BatchFleet.StartAsync(store.Store);
        // Inserted here, so this store holds a copy of the queued row; then claimed through another orchestrator.
        var run = await fleet.AddAsync(RunStates.Queued);
        var claimed = await store.WriteElsewhereAsync(run.CorrelationId, r =>
        {
            r.CurrentState = RunStates.Running;
            r.ClaimId = Guid.NewGuid();
            r.LeaseId = Guid.NewGuid();
            r.LeaseExpiresAt = DateTimeOffset.UtcNow.AddMinutes(1);
        });

        await fleet.Harness.Bus.Publish(new RunsSucceeded { Results = [Success(claimed, "done")] }, Ct);

        await WaitForStateAsync(store, run, RunStates.Succeeded);
        Assert.Equal((RunStates.Succeeded, "done"), await StateAndOutput(store, run));
    }

    internal static RunSucceeded Success(RunState run, string output) => new()
    {
        RunId = run.CorrelationId,
        Attempt = run.Attempt,
        LeaseId = run.LeaseId!.Value,
        WorkerId = BatchFleet.WorkerId,
        Output = output,
        FinishedAt = DateTimeOffset.UtcNow,
    };

    /// <summary>
    /// Waits until the consumer has recorded the batch (one transaction changes all its rows) by polling the store: the
    /// harness's own wait gives up after a second without bus traffic, which a consumer held up by a busy database can exceed.
    /// </summary>
    internal static async Task WaitForStateAsync(StoreFixture store, RunState run, string state)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await StateAndOutput(store, run)).State != state)
        {
            Assert.True(DateTime.UtcNow < deadline, $"run {run.CorrelationId} is not {state} after 30 s");
            await Task.Delay(50, Ct);
        }
    }

    static async Task<(string State, string? Output)> StateAndOutput(StoreFixture store, RunState run)
    {
        var row = (await store.Store.LoadAsync(run.CorrelationId, Ct))!;
        return (row.CurrentState, row.Output);
    }
}
