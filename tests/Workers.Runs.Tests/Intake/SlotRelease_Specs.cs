using Workers.Runs.Tests.Support;

namespace Workers.Runs.Tests.Intake;

/// <summary>A whole worker host with one slot, whose orchestrator is played by the spec (<see cref="PlayedOrchestrator"/>).</summary>
public sealed class SlotRelease_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_slot_comes_free_when_its_agent_ends_not_when_the_broker_has_the_result()
    {
        // Under load a success waits for the answer to the claim request it rides in: a round trip through the orchestrator.
        // Held in the slot meanwhile, it kept the next dispatch waiting for a slot the agent no longer used.
        await using var orchestrator = await PlayedOrchestrator.StartWorkerAsync(slots: 1, offerIdleSlots: false, Ct);
        var first = PlayedOrchestrator.Dispatch("/bin/true");
        var second = PlayedOrchestrator.Dispatch("/bin/true");

        await orchestrator.SendAsync(first, Ct);
        await orchestrator.SuccessHeld(first.RunId).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await orchestrator.SendAsync(second, Ct);

        // The first run's result is still on its way, and the second dispatch has its slot.
        await orchestrator.DispatchTaken(second.RunId).WaitAsync(TimeSpan.FromSeconds(15), Ct);
        Assert.DoesNotContain(first.RunId, orchestrator.LetThrough);

        orchestrator.ReleaseSuccesses();
        await orchestrator.SuccessHeld(second.RunId).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal([first.RunId, second.RunId], orchestrator.Claimed);
    }
}
