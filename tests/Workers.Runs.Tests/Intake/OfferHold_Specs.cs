using Workers.Runs.Tests.Support;

namespace Workers.Runs.Tests.Intake;

/// <summary>A whole worker host that offers idle slots, whose orchestrator is played by the spec (<see cref="PlayedOrchestrator"/>).</summary>
public sealed class OfferHold_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_dispatch_waiting_for_a_slot_gets_the_one_held_for_an_offer_once_that_offer_lapses()
    {
        // Two slots: the idle worker holds one for its offer, and a long run takes the other. A second dispatch then finds
        // no free slot. Its wait pauses the offers, and the offer's slot must come back to it when the offer lapses, not
        // pass to the next offer: the worker used to renew the offer as soon as the pause ended, before the old one had
        // lapsed, so the held slot went from offer to offer and queued runs waited for the re-dispatch timer.
        await using var orchestrator = await PlayedOrchestrator.StartWorkerAsync(slots: 2, offerIdleSlots: true, Ct);
        var running = PlayedOrchestrator.Dispatch("/bin/sleep", "60");
        var waiting = PlayedOrchestrator.Dispatch("/bin/true");
        // The idle worker's offer holds one of the two slots.
        await orchestrator.NextOffer().WaitAsync(TimeSpan.FromSeconds(15), Ct);
        await orchestrator.SendAsync(running, Ct);
        await orchestrator.DispatchTaken(running.RunId).WaitAsync(TimeSpan.FromSeconds(15), Ct);

        // Right after a renewal, so the offer it holds the slot for is as young as it gets when the wait begins.
        await orchestrator.NextOffer().WaitAsync(TimeSpan.FromSeconds(15), Ct);
        await orchestrator.SendAsync(waiting, Ct);

        await orchestrator.DispatchTaken(waiting.RunId).WaitAsync(TimeSpan.FromSeconds(15), Ct);
        orchestrator.ReleaseSuccesses();
        await orchestrator.SuccessHeld(waiting.RunId).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal([running.RunId, waiting.RunId], orchestrator.Claimed);
    }
}
