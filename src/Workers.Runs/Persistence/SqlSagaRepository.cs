using MassTransit;
using MassTransit.Context;
using MassTransit.Saga;
using Workers.Runs.StateMachine;

namespace Workers.Runs.Persistence;

/// <summary>
/// The run saga's repository on MassTransit's repository seams (the EF Core integration package is not available
/// here). Load reads the row; the state machine runs; Update writes it back only if its version is unchanged,
/// else throws a <see cref="ConcurrencyException"/> and the endpoint's retry re-runs the message on the fresh row.
/// </summary>
public sealed class SqlSagaRepositoryContextFactory(RunStore store, ISagaConsumeContextFactory<RunStore, RunState> factory)
    : ISagaRepositoryContextFactory<RunState>
{
    public Task Send<T>(ConsumeContext<T> context, IPipe<SagaRepositoryContext<RunState, T>> next)
        where T : class =>
        next.Send(new SqlSagaRepositoryContext<T>(store, context, factory));

    public Task SendQuery<T>(ConsumeContext<T> context, ISagaQuery<RunState> query, IPipe<SagaRepositoryQueryContext<RunState, T>> next)
        where T : class =>
        throw new NotSupportedException("The run saga correlates by RunId only; query correlation is not supported.");

    public void Probe(ProbeContext context) => context.Add("persistence", $"sql:{store.Dialect.Provider}");
}

sealed class SqlSagaRepositoryContext<TMessage> : ConsumeContextScope<TMessage>, SagaRepositoryContext<RunState, TMessage>
    where TMessage : class
{
    readonly RunStore store;
    readonly ConsumeContext<TMessage> context;
    readonly ISagaConsumeContextFactory<RunStore, RunState> factory;

    public SqlSagaRepositoryContext(RunStore store, ConsumeContext<TMessage> context, ISagaConsumeContextFactory<RunStore, RunState> factory)
        : base(context)
    {
        this.store = store;
        this.context = context;
        this.factory = factory;
    }

    public Task<SagaConsumeContext<RunState, TMessage>> Add(RunState instance) =>
        factory.CreateSagaConsumeContext(store, context, instance, SagaConsumeContextMode.Add);

    public async Task<SagaConsumeContext<RunState, TMessage>> Insert(RunState instance)
    {
        try
        {
            await store.InsertAsync(instance, CancellationToken).ConfigureAwait(false);
        }
        catch (ConcurrencyException)
        {
            // Already there: the caller falls back to Load.
            return default!;
        }
        return await factory.CreateSagaConsumeContext(store, context, instance, SagaConsumeContextMode.Insert).ConfigureAwait(false);
    }

    public async Task<SagaConsumeContext<RunState, TMessage>> Load(Guid correlationId)
    {
        // A submission's first delivery is almost always of a run never seen, so its read is skipped: if the run exists
        // after all, the insert conflicts, and the retry (attempt 1 and on) reads the row and handles the duplicate.
        var firstTry = context.IsFirstTry();
        if (typeof(TMessage) == typeof(Contracts.SubmitRun) && firstTry)
            return default!;
        var instance = await store.LoadForUpdateAsync(correlationId, !firstTry, CancellationToken).ConfigureAwait(false);
        return instance is null
            ? default!
            : await factory.CreateSagaConsumeContext(store, context, instance, SagaConsumeContextMode.Load).ConfigureAwait(false);
    }

    public Task Save(SagaConsumeContext<RunState> context) => store.InsertAsync(context.Saga, CancellationToken);

    public Task Update(SagaConsumeContext<RunState> context) => store.UpdateAsync(context.Saga, CancellationToken);

    public Task Delete(SagaConsumeContext<RunState> context) => store.DeleteAsync(context.Saga.CorrelationId, CancellationToken);

    public Task Discard(SagaConsumeContext<RunState> context) => Task.CompletedTask;

    public Task Undo(SagaConsumeContext<RunState> context) => Task.CompletedTask;

    public Task<SagaConsumeContext<RunState, T>> CreateSagaConsumeContext<T>(ConsumeContext<T> consumeContext, RunState instance, SagaConsumeContextMode mode)
        where T : class =>
        factory.CreateSagaConsumeContext(store, consumeContext, instance, mode);
}

static class FirstTryExtensions
{
    /// <summary>
    /// The message's first delivery and first try: not a retry after a conflict or a failure, nor a redelivery after a
    /// crash. Only then may a write start from what this orchestrator last wrote instead of the row.
    /// </summary>
    public static bool IsFirstTry(this ConsumeContext context) => context.GetRetryAttempt() == 0 && !context.ReceiveContext.Redelivered;
}
