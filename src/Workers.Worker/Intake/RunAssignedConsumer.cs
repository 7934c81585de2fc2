using MassTransit;
using Workers.Contracts;

namespace Workers.Worker.Intake;

/// <summary>A run handed to this worker on one of its offered slots (<see cref="SlotOfferer"/>).</summary>
public sealed class RunAssignedConsumer(SlotOfferer offerer) : IConsumer<RunAssigned>
{
    public Task Consume(ConsumeContext<RunAssigned> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return offerer.TakeAsync(context.Message);
    }
}
