using System.Collections.Concurrent;
using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Workers.Agents.Runtimes;
using Workers.Contracts;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Runs.Tests.Support;

/// <summary>
/// The orchestrator, played for a whole worker host on the in-memory bus: grants every claim at once, holds every success
/// back until <see cref="ReleaseSuccesses"/>, and watches the worker take its dispatches and make its offers.
/// </summary>
public sealed class PlayedOrchestrator : IBusParticipant, IFilter<PublishContext>, IConsumeObserver, IAsyncDisposable
{
    readonly ConcurrentDictionary<Guid, TaskCompletionSource> _successes = new();
    readonly ConcurrentDictionary<Guid, TaskCompletionSource> _taken = new();
    readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly ConcurrentQueue<Guid> _claimed = new();
    readonly ConcurrentQueue<Guid> _letThrough = new();
    TaskCompletionSource _nextOffer = new(TaskCreationOptions.RunContinuationsAsynchronously);

    IHost? _host;
    ISendEndpoint? _dispatches;

    PlayedOrchestrator()
    {
    }

    /// <summary>
    /// Starts a worker host with <paramref name="slots"/> slots that offers the process runtime, with this orchestrator on its
    /// bus. Disposing lets every held success go and stops the host.
    /// </summary>
    public static async Task<PlayedOrchestrator> StartWorkerAsync(int slots, bool offerIdleSlots, CancellationToken cancellationToken)
    {
        var orchestrator = new PlayedOrchestrator();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Workers:Bus:Transport"] = "InMemory",
            ["Workers:Worker:Slots"] = slots.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Workers:Worker:OfferIdleSlots"] = offerIdleSlots ? "true" : "false",
            // A dispatch that finds no slot waits far longer than any spec does.
            ["Workers:Worker:SlotWaitTimeout"] = "00:05:00",
            // A long run still going when the spec ends is stopped at once.
            ["Workers:Worker:ShutdownGracePeriod"] = "00:00:00.500",
            ["Workers:Worker:Runtimes:0"] = RuntimeNames.Process,
            ["Workers:Agents:Path"] = Path.Combine(AppContext.BaseDirectory, "no-agents.yaml"),
        });
        builder.AddServiceDefaults();
        builder.AddWorker();
        builder.Services.AddBusParticipant(orchestrator);
        builder.AddWorkersBus();
        orchestrator._host = builder.Build();
        await orchestrator._host.StartAsync(cancellationToken);
        orchestrator._dispatches = await orchestrator._host.Services.GetRequiredService<IBus>()
            .GetSendEndpoint(new Uri($"queue:{RunQueues.ForRuntime(RuntimeNames.Process)}"));
        return orchestrator;
    }

    /// <summary>Sends <paramref name="dispatch"/> to the process runtime's dispatch queue, as the orchestrator does.</summary>
    public Task SendAsync(ExecuteRun dispatch, CancellationToken cancellationToken) =>
        _dispatches!.Send(dispatch, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        ReleaseSuccesses();
        if (_host is not null)
        {
            await _host.StopAsync(CancellationToken.None);
            _host.Dispose();
        }
    }

    /// <summary>A first attempt of a run whose agent is <paramref name="command"/> and <paramref name="args"/>.</summary>
    public static ExecuteRun Dispatch(string command, params string[] args) => new()
    {
        RunId = Guid.NewGuid(),
        Attempt = 1,
        Input = "task",
        Agent = new AgentSpec
        {
            Name = Path.GetFileName(command),
            Runtime = RuntimeNames.Process,
            Settings = JsonSerializer.SerializeToElement(new { command, args }),
        },
    };

    /// <summary>The runs claimed, in order.</summary>
    public IReadOnlyList<Guid> Claimed => [.. _claimed];

    /// <summary>The runs whose successes have been published.</summary>
    public IReadOnlyList<Guid> LetThrough => [.. _letThrough];

    /// <summary>Completes when the worker has started to publish <paramref name="runId"/>'s success.</summary>
    public Task SuccessHeld(Guid runId) => Signal(_successes, runId).Task;

    /// <summary>Completes when the worker's dispatch consumer is done with <paramref name="runId"/>'s dispatch: it took a slot.</summary>
    public Task DispatchTaken(Guid runId) => Signal(_taken, runId).Task;

    public void ReleaseSuccesses() => _release.TrySetResult();

    /// <summary>Completes when the worker next publishes an offer of its idle slots.</summary>
    public Task NextOffer() => Volatile.Read(ref _nextOffer).Task;

    public void AddRegistrations(IBusRegistrationConfigurator configurator)
    {
    }

    public void ConfigureEndpoints(IBusRegistrationContext context, IBusFactoryConfigurator configurator, BusTransport transport)
    {
        configurator.ReceiveEndpoint("played-orchestrator", e => e.Handler<ClaimRuns>(GrantAsync));
        configurator.ConfigurePublish(publish => publish.UseFilter(this));
        configurator.ConnectConsumeObserver(this);
    }

    async Task GrantAsync(ConsumeContext<ClaimRuns> context)
    {
        foreach (var claim in context.Message.Claims)
            _claimed.Enqueue(claim.RunId);
        await WorkerMailboxes.RespondAsync(context, new RunsClaimed
        {
            Granted = context.Message.Claims.Select(c => new RunClaimed
            {
                RunId = c.RunId,
                Attempt = c.Attempt,
                LeaseId = Guid.NewGuid(),
                LeaseExpiresAt = DateTimeOffset.UtcNow.AddMinutes(5),
                LeaseDuration = TimeSpan.FromMinutes(5),
            }).ToList(),
        });
    }

    public async Task Send(PublishContext context, IPipe<PublishContext> next)
    {
        if (context is PublishContext<SlotsOffered>)
            Interlocked.Exchange(ref _nextOffer, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        IEnumerable<RunSucceeded> successes = context switch
        {
            PublishContext<RunSucceeded> one => [one.Message],
            PublishContext<RunsSucceeded> many => many.Message.Results,
            _ => [],
        };
        var runIds = successes.Select(s => s.RunId).ToList();
        foreach (var runId in runIds)
            Signal(_successes, runId).TrySetResult();
        if (runIds.Count > 0)
            await _release.Task.ConfigureAwait(false);
        await next.Send(context).ConfigureAwait(false);
        foreach (var runId in runIds)
            _letThrough.Enqueue(runId);
    }

    public Task PostConsume<T>(ConsumeContext<T> context)
        where T : class
    {
        if (context.Message is ExecuteRun dispatch)
            Signal(_taken, dispatch.RunId).TrySetResult();
        return Task.CompletedTask;
    }

    public Task PreConsume<T>(ConsumeContext<T> context)
        where T : class => Task.CompletedTask;

    public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;

    public void Probe(ProbeContext context) => context.CreateFilterScope("playedOrchestrator");

    static TaskCompletionSource Signal(ConcurrentDictionary<Guid, TaskCompletionSource> signals, Guid runId) =>
        signals.GetOrAdd(runId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
}
