using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Workers.Contracts;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Runs.Tests.Leases;

/// <summary>A whole worker host whose heartbeats cannot be sent for a while.</summary>
public sealed class HeartbeatSend_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_heartbeat_whose_send_throws_is_sent_again_next_interval_and_the_worker_lives_on()
    {
        // The RabbitMQ client can throw out of a send while its connection closes (an ObjectDisposedException, which
        // MassTransit does not retry). Thrown out of the heartbeat loop, it stopped the whole worker.
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Workers:Bus:Transport"] = "InMemory",
            ["Workers:Worker:HeartbeatInterval"] = "00:00:00.100",
            ["Workers:Worker:Runtimes:0"] = "process",
            ["Workers:Agents:Path"] = Path.Combine(AppContext.BaseDirectory, "no-agents.yaml"),
        });
        builder.AddServiceDefaults();
        builder.AddWorker();
        var refusal = new RefusedHeartbeats(refusals: 3);
        builder.Services.AddBusParticipant(refusal);
        builder.AddWorkersBus();
        using var host = builder.Build();
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();

        await host.StartAsync(Ct);
        try
        {
            // The fourth heartbeat is sent after three that threw; no orchestrator answers it, which is a timeout, as ever.
            await refusal.Sent.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
            Assert.Equal(3, refusal.Refused);
            Assert.False(lifetime.ApplicationStopping.IsCancellationRequested, "the worker is stopping");
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>Makes the first <paramref name="refusals"/> heartbeat publishes throw, then lets them through.</summary>
    sealed class RefusedHeartbeats(int refusals) : IBusParticipant, IFilter<PublishContext>
    {
        int _published;

        public int Refused => Math.Min(Volatile.Read(ref _published), refusals);

        /// <summary>Completes when a heartbeat has been let through.</summary>
        public TaskCompletionSource Sent { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void AddRegistrations(IBusRegistrationConfigurator configurator)
        {
        }

        public void ConfigureEndpoints(IBusRegistrationContext context, IBusFactoryConfigurator configurator, BusTransport transport) =>
            configurator.ConfigurePublish(publish => publish.UseFilter(this));

        public Task Send(PublishContext context, IPipe<PublishContext> next)
        {
            if (context is PublishContext<WorkerHeartbeat>)
            {
                ObjectDisposedException.ThrowIf(Interlocked.Increment(ref _published) <= refusals, typeof(SemaphoreSlim));
                Sent.TrySetResult();
            }
            return next.Send(context);
        }

        public void Probe(ProbeContext context) => context.CreateFilterScope("refusedHeartbeats");
    }
}
