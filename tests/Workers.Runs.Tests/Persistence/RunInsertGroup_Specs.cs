using MassTransit;
using Workers.Runs.Persistence;
using Workers.Runs.StateMachine;

namespace Workers.Runs.Tests.Persistence;

/// <summary>
/// The grouping itself, with writers the spec controls: which runs go in which write, and what each caller gets back.
/// (RunStore_Specs covers the same on real databases.)
/// </summary>
public sealed class RunInsertGroup_Specs
{
    static readonly DateTimeOffset Now = new(2026, 3, 1, 9, 0, 0, TimeSpan.Zero);

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Inserts_asked_for_while_a_write_is_under_way_go_together_in_the_next_one()
    {
        var firstWriteStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var releaseFirstWrite = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var groups = new List<List<Guid>>();
        var group = new RunInsertGroup(
            async runs =>
            {
                lock (groups)
                    groups.Add(runs.Select(r => r.CorrelationId).ToList());
                await Task.Yield();
                // The second of the three is already there.
                return runs.Select((_, i) => i != 1).ToArray();
            },
            async run =>
            {
                lock (groups)
                    groups.Add([run.CorrelationId]);
                firstWriteStarted.TrySetResult();
                await releaseFirstWrite.Task;
                return true;
            });

        var lone = StoreFixture.NewRun(Now);
        var loneInsert = group.InsertAsync(lone, Ct);
        await firstWriteStarted.Task.WaitAsync(Ct);
        var later = Enumerable.Range(0, 3).Select(_ => StoreFixture.NewRun(Now)).ToList();
        var laterInserts = later.Select(run => group.InsertAsync(run, Ct)).ToList();
        Assert.All(laterInserts, t => Assert.False(t.IsCompleted));
        releaseFirstWrite.SetResult();

        await loneInsert;
        await laterInserts[0];
        await Assert.ThrowsAsync<ConcurrencyException>(() => laterInserts[1]);
        await laterInserts[2];
        Assert.Equal([[lone.CorrelationId], later.Select(r => r.CorrelationId).ToList()], groups);
    }

    [Fact]
    public async Task A_group_the_database_refuses_is_written_again_run_by_run_so_only_the_bad_run_fails()
    {
        var bad = StoreFixture.NewRun(Now);
        var holdFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var written = new List<Guid>();
        var group = new RunInsertGroup(
            _ => throw new InvalidOperationException("the database refused the group"),
            async run =>
            {
                if (!firstStarted.Task.IsCompleted)
                {
                    firstStarted.TrySetResult();
                    await holdFirst.Task;
                }
                if (run == bad)
                    throw new InvalidOperationException("the database refused this row");
                lock (written)
                    written.Add(run.CorrelationId);
                return true;
            });

        var first = group.InsertAsync(StoreFixture.NewRun(Now), Ct);
        await firstStarted.Task.WaitAsync(Ct);
        var good = new[] { StoreFixture.NewRun(Now), StoreFixture.NewRun(Now) };
        var inserts = new[] { group.InsertAsync(good[0], Ct), group.InsertAsync(bad, Ct), group.InsertAsync(good[1], Ct) };
        holdFirst.SetResult();

        await first;
        await inserts[0];
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => inserts[1]);
        Assert.Equal("the database refused this row", error.Message);
        await inserts[2];
        Assert.Contains(good[0].CorrelationId, written);
        Assert.Contains(good[1].CorrelationId, written);
        Assert.DoesNotContain(bad.CorrelationId, written);
    }

    [Fact]
    public async Task A_write_that_breaks_in_an_unexpected_way_still_answers_its_callers_and_the_next_insert_is_written()
    {
        var holdFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var group = new RunInsertGroup(
            _ => Task.FromResult(Array.Empty<bool>()), // an answer too short for its group
            async _ =>
            {
                if (firstStarted.TrySetResult())
                    await holdFirst.Task;
                return true;
            });

        var first = group.InsertAsync(StoreFixture.NewRun(Now), Ct);
        await firstStarted.Task.WaitAsync(Ct);
        var broken = new[] { group.InsertAsync(StoreFixture.NewRun(Now), Ct), group.InsertAsync(StoreFixture.NewRun(Now), Ct) };
        holdFirst.SetResult();

        await first;
        foreach (var insert in broken)
            await Assert.ThrowsAsync<IndexOutOfRangeException>(() => insert.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        await group.InsertAsync(StoreFixture.NewRun(Now), Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }
}
