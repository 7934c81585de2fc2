using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Workers.Agents.Definitions;
using Workers.Contracts;
using Workers.Runs.Admission;
using Workers.Runs.Dispatch;
using Workers.Runs.Routing;
using Workers.Runs.StateMachine;

namespace Workers.Runs.Tests.Support;

/// <summary>The run saga on MassTransit's in-memory test harness, with a hand-moved clock.</summary>
public sealed class SagaFixture : IAsyncDisposable
{
    readonly ServiceProvider _provider;

    SagaFixture(ServiceProvider provider, ManualTime time)
    {
        _provider = provider;
        Time = time;
        Harness = provider.GetRequiredService<ITestHarness>();
        Saga = Harness.GetSagaStateMachineHarness<RunStateMachine, RunState>();
    }

    public ManualTime Time { get; }
    public ITestHarness Harness { get; }
    public ISagaStateMachineTestHarness<RunStateMachine, RunState> Saga { get; }
    public RunStateMachine Machine => Saga.StateMachine;

    /// <summary>The slots idle workers have offered the saga.</summary>
    public SlotOffers Offers => _provider.GetRequiredService<SlotOffers>();

    public static async Task<SagaFixture> StartAsync(RunOptions? options = null, ILiveRuntimes? live = null)
    {
        var time = new ManualTime();
        var provider = new ServiceCollection()
            .AddSingleton<TimeProvider>(time)
            .AddSingleton<IAgentCatalog, StaticCatalog>()
            .AddSingleton<ILiveRuntimes>(live ?? new FixedLiveRuntimes("process"))
            .AddSingleton(Options.Create(options ?? new RunOptions()))
            .AddSingleton<RunAdmission>()
            .AddSingleton<DispatchProgress>()
            .AddSingleton<SlotOffers>()
            .AddSingleton<RunLifecycle>()
            .AddMassTransitTestHarness(x =>
            {
                x.SetTestTimeouts(testTimeout: TimeSpan.FromSeconds(20), testInactivityTimeout: TimeSpan.FromSeconds(1));
                x.AddSagaStateMachine<RunStateMachine, RunState>().InMemoryRepository();
            })
            .BuildServiceProvider(true);
        var fixture = new SagaFixture(provider, time);
        await fixture.Harness.Start();
        return fixture;
    }

    public Task Send<T>(T message)
        where T : class => Harness.Bus.Publish(message);

    /// <summary>Waits until the run is in <paramref name="state"/> and returns it.</summary>
    public async Task<RunState> WaitFor(Guid runId, Func<RunStateMachine, State> state)
    {
        var id = await Saga.Exists(runId, state);
        Assert.True(id.HasValue, $"run {runId} never reached {state(Machine).Name}; it is {Saga.Sagas.Contains(runId)?.CurrentState ?? "missing"}");
        return Saga.Sagas.Contains(runId);
    }

    /// <summary>Waits until the saga has consumed <paramref name="count"/> messages of type T for this run.</summary>
    public Task Consumed<T>(Guid runId, int count = 1)
        where T : class =>
        Until(() => Saga.Consumed.Select<T>().Count(m => RunIdOf(m.Context.Message) == runId) >= count,
            $"the saga did not consume {count} {typeof(T).Name} for {runId}");

    /// <summary>
    /// Waits until a message of type T that <paramref name="match"/> accepts has been sent. The saga's state is visible
    /// before its outbox sends, and the harness's own <c>Sent.Any</c> gives up after a second of inactivity, which a
    /// loaded machine can exceed in between; this waits up to ten seconds instead.
    /// </summary>
    public Task WaitForSent<T>(Func<T, bool> match)
        where T : class =>
        Until(() => Harness.Sent.Select<T>().Any(m => match(m.Context.Message)), $"no matching {typeof(T).Name} was sent");

    static async Task Until(Func<bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(10);
        }
    }

    public int Dispatches(Guid runId, int attempt) =>
        Harness.Sent.Select<ExecuteRun>().Count(m => m.Context.Message.RunId == runId && m.Context.Message.Attempt == attempt);

    public async Task<RunClaimed> Claim(Guid runId, int attempt, Guid? claimId = null)
    {
        var response = await ClaimResponse(runId, attempt, claimId);
        Assert.True(response.Is(out Response<RunClaimed>? claimed), "the claim was refused");
        return claimed.Message;
    }

    public async Task<Response<RunClaimed, ClaimRejected>> ClaimResponse(Guid runId, int attempt, Guid? claimId = null)
    {
        var client = Harness.GetRequestClient<ClaimRun>();
        return await client.GetResponse<RunClaimed, ClaimRejected>(new ClaimRun
        {
            RunId = runId,
            Attempt = attempt,
            ClaimId = claimId ?? Guid.NewGuid(),
            WorkerId = "worker-a",
            WorkerAddress = new Uri("queue:worker-a"),
        });
    }

    static Guid RunIdOf(object message) => (Guid)message.GetType().GetProperty("RunId")!.GetValue(message)!;

    public async ValueTask DisposeAsync()
    {
        await Harness.Stop();
        await _provider.DisposeAsync();
    }
}
