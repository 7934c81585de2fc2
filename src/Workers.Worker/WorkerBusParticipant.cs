using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Workers.Contracts;
using Workers.ServiceDefaults.Messaging;
using Workers.Worker.Execution;
using Workers.Worker.Intake;
using Workers.Worker.Leases;

namespace Workers.Worker;

/// <summary>
/// The worker's part of the bus: one priority queue per offered runtime, queues of its own for restart notices and for the
/// orchestrator's hand-overs, stops and answers (its mailbox).
/// </summary>
sealed class WorkerBusParticipant : IBusParticipant
{
    public void AddRegistrations(IBusRegistrationConfigurator configurator)
    {
        configurator.AddConsumer<RunDispatchConsumer>().ExcludeFromConfigureEndpoints();
        configurator.AddConsumer<RestartQueuedConsumer>().ExcludeFromConfigureEndpoints();
        configurator.AddConsumer<RunAssignedConsumer>().ExcludeFromConfigureEndpoints();
        configurator.AddConsumer<StopRunConsumer>().ExcludeFromConfigureEndpoints();
    }

    public void ConfigureEndpoints(IBusRegistrationContext context, IBusFactoryConfigurator configurator, BusTransport transport)
    {
        var offer = context.GetRequiredService<RuntimeOffer>();
        // Every endpoint but the mailbox tells whether the broker is within reach, which a stuck mailbox is judged by.
        var reach = context.GetRequiredService<BrokerReach>();
        foreach (var runtime in offer.Offered.Keys)
        {
            configurator.ReceiveEndpoint(RunQueues.ForRuntime(runtime), e =>
            {
                // Prefetch never above the free slots: one delivery at a time, acknowledged once it has a slot.
                e.PrefetchCount = 1;
                e.ConcurrentMessageLimit = 1;
                // Dispatches are sent to this queue's exchange; no message-type bindings, or a publish would fan out to every runtime.
                e.ConfigureConsumeTopology = false;
                if (e is IRabbitMqReceiveEndpointConfigurator rabbit)
                    rabbit.EnablePriority(RunQueues.MaxPriority);
                e.ConfigureConsumer<RunDispatchConsumer>(context);
                reach.Watch(e);
            });
        }
        // Restart notices reach every worker: a queue of this process's own, deleted with it.
        configurator.ReceiveEndpoint(new TemporaryEndpointDefinition("restarts"), e =>
        {
            e.ConfigureConsumer<RestartQueuedConsumer>(context);
            reach.Watch(e);
        });
        // Hand-overs, stops and answers from the orchestrator: a mailbox of this process's own, deleted with it (WorkerMailboxes).
        configurator.ReceiveEndpoint(new TemporaryEndpointDefinition(WorkerMailbox.EndpointName), e =>
        {
            context.GetRequiredService<WorkerMailbox>().Configure(e);
            e.ConfigureConsumer<RunAssignedConsumer>(context);
            e.ConfigureConsumer<StopRunConsumer>(context);
        });
    }

    public void AddServicesAfterBus(IServiceCollection services) => services.AddHostedService<DrainService>();
}
