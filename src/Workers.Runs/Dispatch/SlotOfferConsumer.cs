using MassTransit;
using Workers.Contracts;

namespace Workers.Runs.Dispatch;

/// <summary>Keeps each idle worker's offer of slots (<see cref="SlotOffers"/>); no database, no answer.</summary>
public sealed class SlotOfferConsumer(SlotOffers offers) : IConsumer<SlotsOffered>
{
    public Task Consume(ConsumeContext<SlotsOffered> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        offers.Add(context.Message);
        return Task.CompletedTask;
    }
}
