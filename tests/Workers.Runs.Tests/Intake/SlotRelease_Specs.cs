using System.Collections.Concurrent;
using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Workers.Agents.Runtimes;
using Workers.Contracts;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Runs.Tests.Intake;

/// <summary>A whole worker host with one slot, whose orchestrator is played by the spec.</summary>
public sealed class SlotRelease_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_slot_comes_free_when_its_agent_ends_not_when_the_broker_has_the_result()
    {
        // Under load a success waits for the answer to the claim request it rides in: a round trip through the orchestrator.
        // Held in the slot meanwhile, it kept the next dispatch waiting for a slot the agent no longer used.
        var orchestrator = new PlayedOrchestrator();
        using var host = WorkerWithOneSlot(orchestrator);
        await host.StartAsync(Ct);
        try
        {
            var first = Dispatch();
            var second = Dispatch();
            var runs = await host.Services.GetRequiredService<IBus>().GetSendEndpoint(new Uri($"queue:{RunQueues.ForRuntime(RuntimeNames.Process)}"));

            await runs.Send(first, Ct);
            await orchestrator.SuccessHeld(first.RunId).WaitAsync(TimeSpan.FromSeconds(30), Ct);
            await runs.Send(second, Ct);

            // The first run's result is still on its way, and the second dispatch has its slot.
            await orchestrator.DispatchTaken(second.RunId).WaitAsync(TimeSpan.FromSeconds(15), Ct);
            Assert.DoesNotContain(first.RunId, orchestrator.LetThrough);

            orchestrator.ReleaseSuccesses();
            await orchestrator.SuccessHeld(second.RunId).WaitAsync(TimeSpan.FromSeconds(30), Ct);
            Assert.Equal([first.RunId, second.RunId], orchestrator.Claimed);
        }
        finally
        {
            orchestrator.ReleaseSuccesses();
            await host.StopAsync(CancellationToken.None);
        }
    }

    static IHost WorkerWithOneSlot(PlayedOrchestrator orchestrator)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Workers:Bus:Transport"] = "InMemory",
            ["Workers:Worker:Slots"] = "1",
            ["Workers:Worker:OfferIdleSlots"] = "false",
            // A dispatch that finds no slot waits far longer than the spec does.
            ["Workers:Worker:SlotWaitTimeout"] = "00:05:00",
            ["Workers:Worker:Runtimes:0"] = RuntimeNames.Process,
            ["Workers:Agents:Path"] = Path.Combine(AppContext.BaseDirectory, "no-agents.yaml"),
        });
        builder.AddServiceDefaults();
        builder.AddWorker();
        builder.Services.AddBusParticipant(orchestrator);
        builder.AddWorkersBus();
        return builder.Build();
    }

    static ExecuteRun Dispatch() => new()
    {
        RunId = Guid.NewGuid(),
        Attempt = 1,
        Input = "task",
        Agent = new AgentSpec
        {
            Name = "true",
            Runtime = RuntimeNames.Process,
            Settings = JsonSerializer.SerializeToElement(new { command = "/bin/true" }),
        },
    };

    /// <summary>
    /// Grants every claim at once, holds every success back until <see cref="ReleaseSuccesses"/>, and watches the worker take
    /// its dispatches.
    /// </summary>
    sealed class PlayedOrchestrator : IBusParticipant, IFilter<PublishContext>, IConsumeObserver
    {
        readonly ConcurrentDictionary<Guid, TaskCompletionSource> _successes = new();
        readonly ConcurrentDictionary<Guid, TaskCompletionSource> _taken = new();
        readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        readonly ConcurrentQueue<Guid> _claimed = new();
        readonly ConcurrentQueue<Guid> _letThrough = new();

        /// <summary>The runs whose successes have been published.</summary>
        public IReadOnlyList<Guid> LetThrough => [.. _letThrough];

        /// <summary>The runs claimed, in order.</summary>
        public IReadOnlyList<Guid> Claimed => [.. _claimed];

        /// <summary>Completes when the worker has started to publish <paramref name="runId"/>'s success.</summary>
        public Task SuccessHeld(Guid runId) => Signal(_successes, runId).Task;

        /// <summary>Completes when the worker's dispatch consumer is done with <paramref name="runId"/>'s dispatch: it took a slot.</summary>
        public Task DispatchTaken(Guid runId) => Signal(_taken, runId).Task;

        public void ReleaseSuccesses() => _release.TrySetResult();

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
}
