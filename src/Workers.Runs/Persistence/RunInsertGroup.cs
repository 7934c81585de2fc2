using MassTransit;
using Workers.Runs.StateMachine;
using Workers.ServiceDefaults.Batching;

namespace Workers.Runs.Persistence;

/// <summary>
/// Group commit for new runs. Inserts asked for while one write is under way wait, and all of them go in the next
/// write, one round trip and one commit: a burst of submissions then costs a commit per group instead of one per run.
/// A lone insert is written at once (there is no timer), so a quiet fleet waits no longer than before.
/// </summary>
/// <remarks>
/// Every caller gets its own outcome. A run that already exists is a <see cref="ConcurrencyException"/> for that caller
/// alone (the row is inserted with <c>ON CONFLICT DO NOTHING</c>, so it never aborts the others). If a group fails as a
/// whole (a row the database refuses, a dropped connection), its runs are written again one by one, so a bad row fails
/// only its own submission.
/// </remarks>
sealed class RunInsertGroup
{
    /// <summary>Most runs in one write; the rest wait for the next.</summary>
    public const int MaxGroup = 128;

    readonly Func<IReadOnlyList<RunState>, Task<bool[]>> _insertAll;
    readonly Func<RunState, Task<bool>> _insertOne;
    readonly InFlightBatches<Waiting> _writes;

    public RunInsertGroup(Func<IReadOnlyList<RunState>, Task<bool[]>> insertAll, Func<RunState, Task<bool>> insertOne)
    {
        _insertAll = insertAll;
        _insertOne = insertOne;
        _writes = new InFlightBatches<Waiting>(1, _ => MaxGroup, WriteAsync);
    }

    /// <summary>Inserts the run with the next group; throws <see cref="ConcurrencyException"/> if a run with its id exists.</summary>
    public Task InsertAsync(RunState run, CancellationToken cancellationToken)
    {
        var waiting = new Waiting(run);
        _writes.Add(waiting);
        // A cancelled caller stops waiting, but its run may still be written: as with any statement cancelled in flight,
        // the retry finds out by loading it.
        return waiting.Done.Task.WaitAsync(cancellationToken);
    }

    async Task WriteAsync(List<Waiting> group)
    {
        try
        {
            if (group.Count == 1 || !await TryWriteTogetherAsync(group).ConfigureAwait(false))
                await WriteOneByOneAsync(group).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Never leave a caller waiting, nor the batching stuck with a write that never ended.
            foreach (var waiting in group)
                waiting.Done.TrySetException(ex);
        }
    }

    async Task<bool> TryWriteTogetherAsync(List<Waiting> group)
    {
        bool[] inserted;
        try
        {
            inserted = await _insertAll(group.ConvertAll(w => w.Run)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Nothing of the group was committed: each run is tried alone, and gets its own error if it has one.
            return false;
        }
        for (var i = 0; i < group.Count; i++)
            group[i].Complete(inserted[i]);
        return true;
    }

    async Task WriteOneByOneAsync(List<Waiting> group)
    {
        foreach (var waiting in group)
        {
            try
            {
                waiting.Complete(await _insertOne(waiting.Run).ConfigureAwait(false));
            }
            catch (Exception ex)
            {
                waiting.Done.TrySetException(ex);
            }
        }
    }

    sealed class Waiting(RunState run)
    {
        public RunState Run { get; } = run;

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Complete(bool inserted)
        {
            if (inserted)
                Done.TrySetResult();
            else
                Done.TrySetException(new ConcurrencyException($"run {Run.CorrelationId} was inserted concurrently", typeof(RunState), Run.CorrelationId));
        }
    }
}
