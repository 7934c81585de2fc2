using MassTransit;
using Workers.Contracts;
using Workers.Runs.Persistence;

namespace Workers.Runs.StateMachine;

/// <summary>
/// Records a worker's batch of successes with one read and one transaction. A success is kept by the state machine's own
/// rule (<see cref="RunLifecycle.AcceptsSuccess"/>) and recorded by its own code, so a run ends alike whichever way its
/// success came; a stale or duplicate one is ignored. Every write is guarded by the row's version; if any row changed
/// since it was read, nothing is written and the endpoint's retry runs the batch again on fresh rows.
/// </summary>
public sealed class SuccessBatchConsumer(RunStore store, RunLifecycle lifecycle) : IConsumer<RunsSucceeded>
{
    public async Task Consume(ConsumeContext<RunsSucceeded> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var results = (context.Message.Results ?? []).Where(r => r is not null).ToList();
        var runs = await store.LoadManyForUpdateAsync(results.Select(r => r.RunId).ToHashSet(), !context.IsFirstTry(), context.CancellationToken)
            .ConfigureAwait(false);
        var changed = new List<RunState>();
        var ignored = new List<RunState>();
        Keep(lifecycle, results, runs, changed, ignored);
        // A copy of a row may justify a write (the write's version check catches a stale one), never the lack of one.
        if (ignored.Exists(store.IsCopy))
        {
            runs = await store.ReadAgainAsync(runs, context.CancellationToken).ConfigureAwait(false);
            changed.Clear();
            ignored.Clear();
            Keep(lifecycle, results, runs, changed, ignored);
        }
        await store.UpdateAllAsync(changed, context.CancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Records on the loaded <paramref name="runs"/> the successes the state machine would keep, and adds each run it changed
    /// to <paramref name="changed"/> once (a copy of a success already kept finds the run ended and is ignored), and each run
    /// whose success it ignored to <paramref name="ignored"/>.
    /// </summary>
    internal static void Keep(RunLifecycle lifecycle, IEnumerable<RunSucceeded> results, IReadOnlyDictionary<Guid, RunState> runs, List<RunState> changed,
        List<RunState> ignored)
    {
        foreach (var success in results)
        {
            if (!runs.TryGetValue(success.RunId, out var run))
                continue;
            if (!RunLifecycle.AcceptsSuccess(run, success.LeaseId))
            {
                ignored.Add(run);
                continue;
            }
            lifecycle.RecordSuccess(run, success);
            run.CurrentState = RunStates.Succeeded;
            changed.Add(run);
        }
    }
}
