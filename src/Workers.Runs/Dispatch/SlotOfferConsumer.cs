using MassTransit;
using Microsoft.Extensions.Logging;
using Workers.Contracts;

namespace Workers.Runs.Dispatch;

/// <summary>Keeps each idle worker's offer of slots (<see cref="SlotOffers"/>); no database, no answer.</summary>
public sealed partial class SlotOfferConsumer(SlotOffers offers, ILogger<SlotOfferConsumer> logger) : IConsumer<SlotsOffered>
{
    public Task Consume(ConsumeContext<SlotsOffered> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var offer = context.Message;
        offers.Add(offer);
        LogOffered(logger, offer.WorkerId, offer.Slots, offer.OfferId);
        return Task.CompletedTask;
    }

    // Debug: an idle worker renews its offer about once a second.
    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "Worker {WorkerId} offers {Slots} slot(s) (offer {OfferId})")]
    static partial void LogOffered(ILogger logger, string workerId, int slots, Guid offerId);
}
