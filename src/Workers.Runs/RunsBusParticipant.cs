using MassTransit;
using MassTransit.Configuration;
using MassTransit.Saga;
using Microsoft.Extensions.DependencyInjection;
using Workers.Runs.Activity;
using Workers.Runs.Dispatch;
using Workers.Runs.Leases;
using Workers.Runs.Persistence;
using Workers.Runs.StateMachine;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Runs;

/// <summary>The orchestrator's part of the bus: the run saga's endpoint and the heartbeat endpoint.</summary>
sealed class RunsBusParticipant : IBusParticipant
{
    /// <summary>The saga's queue. Producers reach it through the message-type exchanges bound to it.</summary>
    public const string SagaQueue = "run-state";

    /// <summary>The heartbeat queue (lease renewals), apart so a backlog of run events never delays renewals.</summary>
    public const string HeartbeatQueue = "run-leases";

    /// <summary>Agent events and checkpoints, apart so a burst of events never delays the lifecycle or renewals.</summary>
    public const string ActivityQueue = "run-activity";

    /// <summary>
    /// In memory only: submissions, apart from the rest of the lifecycle. The in-memory transport has no priorities, so on
    /// one queue a burst of submissions would hold every claim and result behind it; RabbitMQ lets those overtake instead.
    /// </summary>
    public const string SubmissionQueue = "run-submissions";

    public void AddRegistrations(IBusRegistrationConfigurator configurator)
    {
        configurator.AddSagaStateMachine<RunStateMachine, RunState, RunStateDefinition>()
            .Repository(r => r.RegisterSagaRepository<RunState, RunStore, SagaConsumeContextFactory<RunStore, RunState>, SqlSagaRepositoryContextFactory>());
        configurator.AddConsumer<ClaimBatchConsumer>();
        configurator.AddConsumer<SuccessBatchConsumer>();
        configurator.AddConsumer<LeaseRenewalConsumer>();
        configurator.AddConsumer<SlotOfferConsumer>();
        configurator.AddConsumer<RunActivityConsumer>();
        configurator.AddConsumer<CheckpointQueryConsumer>();
    }

    public void ConfigureEndpoints(IBusRegistrationContext context, IBusFactoryConfigurator configurator, BusTransport transport)
    {
        configurator.ReceiveEndpoint(SagaQueue, e =>
        {
            e.ConcurrentMessageLimit = RunStateDefinition.ConcurrentMessages;
            e.PrefetchCount = RunStateDefinition.ConcurrentMessages * 2;
            // Claims, results, cancels and timers are sent at RunQueues.LifecyclePriority and overtake queued submissions.
            if (e is IRabbitMqReceiveEndpointConfigurator rabbit)
                rabbit.EnablePriority(RunQueues.MaxPriority);
            if (transport == BusTransport.InMemory)
                e.ConfigureMessageTopology<Contracts.SubmitRun>(false);
            e.ConfigureSaga<RunState>(context);
            // Beside the saga, the batches: the same retry on version conflicts and the same outbox (the answer leaves after the commit).
            e.ConfigureConsumer<ClaimBatchConsumer>(context);
            e.ConfigureConsumer<SuccessBatchConsumer>(context);
        });
        if (transport == BusTransport.InMemory)
        {
            configurator.ReceiveEndpoint(SubmissionQueue, e =>
            {
                e.ConcurrentMessageLimit = RunStateDefinition.ConcurrentMessages;
                // The same saga, fed only submissions: a submission and a later event of one run may meet here and on the saga
                // queue at once, which the row's version settles like any other conflict.
                e.ConfigureConsumeTopology = false;
                ((IInMemoryReceiveEndpointConfigurator)e).Bind<Contracts.SubmitRun>();
                e.ConfigureSaga<RunState>(context);
            });
        }
        configurator.ReceiveEndpoint(HeartbeatQueue, e =>
        {
            e.ConnectReceiveEndpointObserver(context.GetRequiredService<HeartbeatHearing>());
            e.UseMessageRetry(r => r.Exponential(10, TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(20)));
            e.ConfigureConsumer<LeaseRenewalConsumer>(context);
            // Idle workers' offers of slots: kept in memory, so beside the renewals rather than behind the saga's traffic.
            e.ConfigureConsumer<SlotOfferConsumer>(context);
        });
        configurator.ReceiveEndpoint(ActivityQueue, e =>
        {
            e.UseMessageRetry(r => r.Exponential(10, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(100)));
            e.ConfigureConsumer<RunActivityConsumer>(context);
            e.ConfigureConsumer<CheckpointQueryConsumer>(context);
        });
    }
}

/// <summary>Policy of the saga endpoint: retry on concurrency conflicts and outages, outbox, partitioning by run.</summary>
sealed class RunStateDefinition : SagaDefinition<RunState>
{
    public const int ConcurrentMessages = 32;

    protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator, ISagaConfigurator<RunState> sagaConfigurator,
        IRegistrationContext context)
    {
        // A version conflict or a database blip retries the whole message against the fresh row; about a
        // minute in all, so a database restart does not send runs to the error queue.
        endpointConfigurator.UseMessageRetry(r => r.Exponential(20, TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(25)));
        // Outgoing messages leave only after the row is committed; a crash in between is recovered by redelivery
        // (a duplicate submission re-dispatches) and by the sweeper's re-dispatch timer.
        endpointConfigurator.UseInMemoryOutbox(context);

        // Messages for one run go one at a time within this instance, so conflicts are rare.
        var partition = endpointConfigurator.CreatePartitioner(ConcurrentMessages);
        sagaConfigurator.Message<Contracts.SubmitRun>(m => m.UsePartitioner(partition, c => c.Message.RunId));
        sagaConfigurator.Message<Contracts.ClaimRun>(m => m.UsePartitioner(partition, c => c.Message.RunId));
        sagaConfigurator.Message<Contracts.CancelRun>(m => m.UsePartitioner(partition, c => c.Message.RunId));
        sagaConfigurator.Message<Contracts.RunSucceeded>(m => m.UsePartitioner(partition, c => c.Message.RunId));
        sagaConfigurator.Message<Contracts.RunFailed>(m => m.UsePartitioner(partition, c => c.Message.RunId));
        sagaConfigurator.Message<Contracts.RunCancelled>(m => m.UsePartitioner(partition, c => c.Message.RunId));
        sagaConfigurator.Message<Contracts.RunReleased>(m => m.UsePartitioner(partition, c => c.Message.RunId));
        sagaConfigurator.Message<Contracts.LeaseExpired>(m => m.UsePartitioner(partition, c => c.Message.RunId));
        sagaConfigurator.Message<Contracts.RetryDelayElapsed>(m => m.UsePartitioner(partition, c => c.Message.RunId));
        sagaConfigurator.Message<Contracts.DispatchElapsed>(m => m.UsePartitioner(partition, c => c.Message.RunId));
        sagaConfigurator.Message<Contracts.DeadlineElapsed>(m => m.UsePartitioner(partition, c => c.Message.RunId));
    }
}
