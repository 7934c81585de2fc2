using MassTransit;
using Workers.Contracts;
using Workers.Runs.Persistence;
using Workers.Runs.StateMachine;
using Workers.Runs.Tests.Support;

namespace Workers.Runs.Tests.Persistence;

/// <summary>
/// The copies a store keeps of the rows it wrote (<see cref="RunRowCache"/>), on real PostgreSQL and SQLite, with a second
/// store on the same database standing in for another orchestrator.
/// </summary>
public sealed class RunRowCache_Specs
{
    static readonly DateTimeOffset Now = new(2026, 3, 1, 9, 0, 0, TimeSpan.Zero);

    public static TheoryData<string> Providers => RunStore_Specs.Providers;

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task The_next_write_of_a_run_starts_from_what_this_store_wrote_without_reading_the_row(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        await using var other = fixture.OpenAnother();
        var run = StoreFixture.NewRun(Now);
        await fixture.Store.InsertAsync(run, Ct);
        // Gone behind this store's back: only a copy can still show it.
        await other.DeleteAsync(run.CorrelationId, Ct);

        var copy = Assert.Single(await fixture.Store.LoadManyForUpdateAsync([run.CorrelationId], fresh: false, Ct)).Value;
        Assert.Equal((run.CorrelationId, RunStates.Queued, 1, "hello"), (copy.CorrelationId, copy.CurrentState, copy.Version, copy.Input));
        Assert.NotSame(run, copy);
        Assert.Empty(await fixture.Store.LoadManyForUpdateAsync([run.CorrelationId], fresh: true, Ct));
        Assert.Null(await fixture.Store.LoadAsync(run.CorrelationId, Ct));

        // Its write is guarded like any other: no row, nothing written.
        copy.CurrentState = RunStates.Running;
        await Assert.ThrowsAsync<ConcurrencyException>(() => fixture.Store.UpdateAllAsync([copy], Ct));
        Assert.Null(await fixture.Store.LoadForUpdateAsync(run.CorrelationId, fresh: false, Ct));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_copy_another_writer_made_stale_fails_its_write_and_the_next_load_reads_the_row(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        await using var other = fixture.OpenAnother();
        var run = StoreFixture.NewRun(Now);
        var untouched = StoreFixture.NewRun(Now);
        await fixture.Store.InsertAsync(run, Ct);
        await fixture.Store.InsertAsync(untouched, Ct);
        await fixture.WriteElsewhereAsync(run.CorrelationId, r => r.Steps = 5);

        var copies = await fixture.Store.LoadManyForUpdateAsync([run.CorrelationId, untouched.CorrelationId], fresh: false, Ct);
        Assert.Equal((1, 0), (copies[run.CorrelationId].Version, copies[run.CorrelationId].Steps));
        copies[run.CorrelationId].CurrentState = RunStates.Running;
        copies[untouched.CorrelationId].CurrentState = RunStates.Running;
        await Assert.ThrowsAsync<ConcurrencyException>(() => fixture.Store.UpdateAllAsync([.. copies.Values], Ct));

        var fresh = await fixture.Store.LoadManyForUpdateAsync([run.CorrelationId, untouched.CorrelationId], fresh: false, Ct);
        Assert.Equal((2, 5, RunStates.Queued), (fresh[run.CorrelationId].Version, fresh[run.CorrelationId].Steps, fresh[run.CorrelationId].CurrentState));
        Assert.Equal(RunStates.Queued, fresh[untouched.CorrelationId].CurrentState);
        fresh[run.CorrelationId].CurrentState = RunStates.Running;
        await fixture.Store.UpdateAllAsync([fresh[run.CorrelationId]], Ct);
        Assert.Equal((3, 5, RunStates.Running), Row(await other.LoadAsync(run.CorrelationId, Ct)));
        Assert.Equal(RunStates.Running, (await fixture.Store.LoadForUpdateAsync(run.CorrelationId, fresh: false, Ct))!.CurrentState);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_copy_is_private_to_its_caller(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        var run = StoreFixture.NewRun(Now);
        await fixture.Store.InsertAsync(run, Ct);
        run.CurrentState = RunStates.Failed;

        var first = (await fixture.Store.LoadForUpdateAsync(run.CorrelationId, fresh: false, Ct))!;
        first.CurrentState = RunStates.Cancelled;
        first.Steps = 9;
        var second = (await fixture.Store.LoadForUpdateAsync(run.CorrelationId, fresh: false, Ct))!;

        Assert.Equal((RunStates.Queued, 0), (second.CurrentState, second.Steps));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Renewals_timers_and_ended_runs_leave_no_copy_behind(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        await using var other = fixture.OpenAnother();
        var running = StoreFixture.NewRun(Now, RunStates.Running);
        running.LeaseId = Guid.NewGuid();
        running.LeaseExpiresAt = Now.AddSeconds(5);
        var overdue = StoreFixture.NewRun(Now);
        overdue.RedispatchAt = Now.AddSeconds(-1);
        var ending = StoreFixture.NewRun(Now, RunStates.Running);
        foreach (var run in new[] { running, overdue, ending })
            await fixture.Store.InsertAsync(run, Ct);

        await fixture.Store.RenewLeasesAsync(new WorkerHeartbeat
        {
            WorkerId = "worker-a",
            HostName = "host",
            Runtimes = ["process"],
            Slots = 1,
            StartedAt = Now,
            Leases = [new HeldLease { RunId = running.CorrelationId, Attempt = 1, LeaseId = running.LeaseId.Value }],
        }, Now, Now.AddSeconds(10), Ct);
        Assert.Single(await fixture.Store.TakeDueAsync(Now, Now.AddSeconds(30), 10, Ct));
        var ended = (await fixture.Store.LoadForUpdateAsync(ending.CorrelationId, fresh: false, Ct))!;
        ended.CurrentState = RunStates.Succeeded;
        await fixture.Store.UpdateAsync(ended, Ct);
        await other.DeleteAsync(ending.CorrelationId, Ct);

        var renewed = (await fixture.Store.LoadForUpdateAsync(running.CorrelationId, fresh: false, Ct))!;
        Assert.Equal((2, Now.AddSeconds(10)), (renewed.Version, renewed.LeaseExpiresAt));
        Assert.Equal(2, (await fixture.Store.LoadForUpdateAsync(overdue.CorrelationId, fresh: false, Ct))!.Version);
        Assert.Null(await fixture.Store.LoadForUpdateAsync(ending.CorrelationId, fresh: false, Ct));
    }

    [Fact]
    public void Copies_pause_for_a_while_once_more_than_a_tenth_of_a_window_of_writes_from_them_were_stale()
    {
        var time = new ManualTime();
        var told = new List<(int Stale, int Writes)>();
        var copies = new RunRowCache(time, (stale, writes) => told.Add((stale, writes)));

        // A tenth stale, exactly: copies go on.
        WriteFromCopies(copies, RunRowCache.Window, stale: RunRowCache.Window / 10);
        Assert.True(copies.Serving);
        Assert.Empty(told);

        WriteFromCopies(copies, RunRowCache.Window, stale: (RunRowCache.Window / 10) + 1);
        Assert.False(copies.Serving);
        Assert.Equal([((RunRowCache.Window / 10) + 1, RunRowCache.Window)], told);
        var run = StoreFixture.NewRun(Now);
        copies.Written([run]);
        Assert.Null(copies.Get(run.CorrelationId));

        time.Advance(RunRowCache.Cooldown);
        Assert.True(copies.Serving);
        Assert.Equal(run.CorrelationId, copies.Get(run.CorrelationId)?.CorrelationId);
    }

    [Fact]
    public void Copies_are_bounded_and_the_oldest_go_first()
    {
        var copies = new RunRowCache();
        var runs = Enumerable.Range(0, RunRowCache.Capacity + 1).Select(_ => StoreFixture.NewRun(Now)).ToList();
        foreach (var run in runs)
            copies.Written([run]);

        Assert.Null(copies.Get(runs[0].CorrelationId));
        Assert.NotNull(copies.Get(runs[RunRowCache.Capacity / 2].CorrelationId));
        Assert.NotNull(copies.Get(runs[^1].CorrelationId));
        var held = runs.Count(r => copies.Get(r.CorrelationId) is not null);
        Assert.InRange(held, RunRowCache.Capacity / 2, RunRowCache.Capacity);

        var large = StoreFixture.NewRun(Now);
        large.Input = new string('x', RunRowCache.MaxRowText + 1);
        copies.Written([large]);
        Assert.Null(copies.Get(large.CorrelationId));
    }

    /// <summary>Writes <paramref name="count"/> runs from copies; the first <paramref name="stale"/> of them turn out stale.</summary>
    static void WriteFromCopies(RunRowCache copies, int count, int stale)
    {
        for (var i = 0; i < count; i++)
        {
            var run = StoreFixture.NewRun(Now);
            copies.Written([run]);
            var copy = copies.Get(run.CorrelationId)!;
            if (i < stale)
                copies.Failed([copy], copy);
            else
                copies.Written([copy]);
        }
    }

    static (int Version, int Steps, string State) Row(RunState? run) => (run!.Version, run.Steps, run.CurrentState);
}
