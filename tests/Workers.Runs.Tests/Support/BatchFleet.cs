using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Workers.Agents.Definitions;
using Workers.Runs.Admission;
using Workers.Runs.Dispatch;
using Workers.Runs.Leases;
using Workers.Runs.Persistence;
using Workers.Runs.Routing;
using Workers.Runs.StateMachine;
using Workers.Runs.Tests.Persistence;
using Workers.Worker;
using Workers.Worker.Execution;
using Workers.Worker.Intake;

namespace Workers.Runs.Tests.Support;

/// <summary>
/// The orchestrator's batch consumers and a worker's claim batcher and result reporter on MassTransit's in-memory harness,
/// over a real store.
/// </summary>
public sealed class BatchFleet : IAsyncDisposable
{
    readonly ServiceProvider _provider;
    readonly RunStore _store;

    BatchFleet(ServiceProvider provider, RunStore store)
    {
        _provider = provider;
        _store = store;
        Harness = provider.GetRequiredService<ITestHarness>();
        Batcher = provider.GetRequiredService<ClaimBatcher>();
        Reporter = provider.GetRequiredService<ResultReporter>();
    }

    public ITestHarness Harness { get; }
    public ClaimBatcher Batcher { get; }
    public ResultReporter Reporter { get; }
    public const string WorkerId = "worker-batch";

    /// <param name="answerClaims">False leaves the orchestrator's claim consumer out, so every claim request goes unanswered.</param>
    /// <param name="claimTimeout">How long the worker waits for an answer (default: the worker's).</param>
    public static async Task<BatchFleet> StartAsync(RunStore store, bool answerClaims = true, TimeSpan? claimTimeout = null)
    {
        var workerOptions = new WorkerOptions { WorkerId = WorkerId };
        if (claimTimeout is { } timeout)
            workerOptions.ClaimTimeout = timeout;
        var provider = new ServiceCollection()
            .AddLogging()
            .AddSingleton(TimeProvider.System)
            .AddSingleton(store)
            .AddSingleton<IAgentCatalog, StaticCatalog>()
            .AddSingleton<ILiveRuntimes>(new FixedLiveRuntimes("process"))
            .AddSingleton(Options.Create(new RunOptions()))
            .AddSingleton(Options.Create(workerOptions))
            .AddSingleton<RunAdmission>()
            .AddSingleton<DispatchProgress>()
            .AddSingleton<SlotOffers>()
            .AddSingleton<RunLifecycle>()
            .AddSingleton<WorkerIdentity>()
            .AddSingleton<WorkerMailbox>()
            .AddSingleton<MailboxRequestClients>()
            .AddSingleton<ClaimBatcher>()
            .AddSingleton<ConfirmedPublisher>()
            .AddSingleton<ResultReporter>()
            .AddMassTransitTestHarness(x =>
            {
                x.SetTestTimeouts(testTimeout: TimeSpan.FromSeconds(20), testInactivityTimeout: TimeSpan.FromSeconds(1));
                if (answerClaims)
                    x.AddConsumer<ClaimBatchConsumer>();
                x.AddConsumer<SuccessBatchConsumer>();
                x.UsingInMemory((context, bus) =>
                {
                    // The worker's mailbox, whose address its claims carry and where their answers come.
                    bus.ReceiveEndpoint(new TemporaryEndpointDefinition(WorkerMailbox.EndpointName), e => context.GetRequiredService<WorkerMailbox>().Configure(e));
                    bus.ConfigureEndpoints(context);
                });
            })
            .BuildServiceProvider(true);
        var fleet = new BatchFleet(provider, store);
        await fleet.Harness.Start();
        return fleet;
    }

    public async Task<RunState> AddAsync(string state, int attempt = 1, Guid? claimId = null)
    {
        var run = StoreFixture.NewRun(DateTimeOffset.UtcNow, state);
        run.Attempt = attempt;
        run.QueuedAt = run.SubmittedAt;
        if (claimId is not null)
        {
            run.ClaimId = claimId;
            run.LeaseId = Guid.NewGuid();
            run.LeaseExpiresAt = DateTimeOffset.UtcNow.AddMinutes(1);
        }
        await _store.InsertAsync(run, TestContext.Current.CancellationToken);
        return run;
    }

    /// <summary>
    /// Starts <paramref name="first"/>, holds the publish it makes until <paramref name="meanwhile"/> has started the rest,
    /// then lets it go: whatever is batched behind an in-flight send is sure to be made while that send is in flight.
    /// </summary>
    public async Task<List<TTask>> WithFirstPublishHeldAsync<TTask>(Func<TTask> first, Func<IEnumerable<TTask>> meanwhile)
        where TTask : Task
    {
        var gate = new HoldFirstPublish();
        using var observer = Harness.Bus.ConnectPublishObserver(gate);
        var started = new List<TTask> { first() };
        await gate.Holding.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        started.AddRange(meanwhile());
        gate.Release();
        return started;
    }

    public async ValueTask DisposeAsync()
    {
        await Harness.Stop();
        await _provider.DisposeAsync();
    }

    /// <summary>Holds the first publish until released, so what is reported meanwhile has to wait for it.</summary>
    sealed class HoldFirstPublish : IPublishObserver
    {
        readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        readonly TaskCompletionSource _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);
        int _seen;

        public Task Holding => _holding.Task;

        public void Release() => _released.TrySetResult();

        public Task PrePublish<T>(PublishContext<T> context)
            where T : class
        {
            if (Interlocked.Increment(ref _seen) != 1)
                return Task.CompletedTask;
            _holding.TrySetResult();
            return _released.Task;
        }

        public Task PostPublish<T>(PublishContext<T> context)
            where T : class => Task.CompletedTask;

        public Task PublishFault<T>(PublishContext<T> context, Exception exception)
            where T : class => Task.CompletedTask;
    }
}
