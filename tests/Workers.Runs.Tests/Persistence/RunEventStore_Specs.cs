using Workers.Contracts;
using Workers.Runs.Persistence;
using Workers.Runs.StateMachine;

namespace Workers.Runs.Tests.Persistence;

/// <summary>The event log and checkpoints on real PostgreSQL and SQLite.</summary>
public sealed class RunEventStore_Specs
{
    static readonly DateTimeOffset Now = new(2026, 3, 1, 9, 0, 0, TimeSpan.Zero);

    public static TheoryData<string> Providers => [nameof(StoreProvider.Postgres), nameof(StoreProvider.Sqlite)];

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static RunEvent Event(long sequence, string type = "message", string? text = null) =>
        new() { Sequence = sequence, At = Now.AddMilliseconds(sequence), Type = type, Text = text ?? $"event {sequence}" };

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Events_are_appended_once_and_read_back_in_order_page_by_page(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        var events = new RunEventStore(fixture.Store);
        var runId = Guid.NewGuid();
        var first = new AttemptActivity { RunId = runId, Attempt = 1, LeaseId = Guid.NewGuid(), Events = [Event(1), Event(2), Event(3)] };
        var second = new AttemptActivity
        {
            RunId = runId,
            Attempt = 2,
            LeaseId = Guid.NewGuid(),
            Events = [Event(1, "tool-started") with { Tool = "grep", CallId = "c1" }, Event(2, "tool-completed", new string('x', 20_000)) with { IsError = true }],
        };

        await events.RecordAsync(first, Now, Ct);
        await events.RecordAsync(first, Now, Ct); // redelivered
        await events.RecordAsync(second, Now, Ct);
        var page1 = await events.ListAsync(runId, 0, 0, 2, Ct);
        var page2 = await events.ListAsync(runId, page1[^1].Attempt, page1[^1].Sequence, 10, Ct);

        Assert.Equal([(1, 1L), (1, 2L)], page1.Select(e => (e.Attempt, e.Sequence)));
        Assert.Equal([(1, 3L), (2, 1L), (2, 2L)], page2.Select(e => (e.Attempt, e.Sequence)));
        Assert.Equal(("grep", "c1"), (page2[1].Tool, page2[1].CallId));
        Assert.True(page2[2].IsError);
        Assert.EndsWith("[truncated]", page2[2].Text, StringComparison.Ordinal);
        Assert.True(page2[2].Text!.Length < 9_000);
        Assert.Equal(Now.AddMilliseconds(3), page2[0].At);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Only_the_current_lease_saves_a_checkpoint_a_newer_one_is_never_overwritten_and_only_that_lease_reads_it(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        var events = new RunEventStore(fixture.Store);
        var run = StoreFixture.NewRun(Now, RunStates.Running);
        run.LeaseId = Guid.NewGuid();
        await fixture.Store.InsertAsync(run, Ct);
        var lease = run.LeaseId.Value;
        AttemptActivity Checkpoint(Guid leaseId, int step) => new()
        {
            RunId = run.CorrelationId,
            Attempt = 1,
            LeaseId = leaseId,
            Checkpoint = new RunCheckpoint { Attempt = 1, Step = step, State = $"state after {step}" },
        };

        await events.RecordAsync(Checkpoint(lease, 2), Now, Ct);
        await events.RecordAsync(Checkpoint(lease, 1), Now, Ct); // late, older
        await events.RecordAsync(Checkpoint(Guid.NewGuid(), 9), Now, Ct); // a stale lease

        var saved = await events.LoadCheckpointAsync(run.CorrelationId, lease, Ct);
        Assert.NotNull(saved);
        Assert.Equal((1, 2, "state after 2"), (saved.Attempt, saved.Step, saved.State));
        Assert.Null(await events.LoadCheckpointAsync(run.CorrelationId, Guid.NewGuid(), Ct));
    }
}
