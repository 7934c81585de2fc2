using Workers.Contracts;

namespace Workers.Runs.Dispatch;

/// <summary>A slot taken from a worker's offer: whom to hand the run to.</summary>
public sealed record OfferedSlot(Guid OfferId, string WorkerId, Uri WorkerAddress);

/// <summary>
/// The slots idle workers have offered this orchestrator (<see cref="SlotsOffered"/>), in memory. A run accepted while one
/// of them is live for its runtime is leased to that worker at once and handed to it (<see cref="RunAssigned"/>): two
/// messages and one commit fewer than a dispatch through the runtime's queue and a claim. An offer lost with a restarted
/// orchestrator costs nothing: the worker's slots come back when it lapses, and runs take the queue meanwhile.
/// </summary>
public sealed class SlotOffers(TimeProvider time)
{
    /// <summary>Longest an offer is kept, whatever it asks for.</summary>
    public static readonly TimeSpan MaxValidFor = TimeSpan.FromSeconds(10);

    readonly Lock _lock = new();
    readonly List<Offer> _offers = [];

    /// <summary>Live offers (for tests and diagnostics).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                DropLapsed(time.GetUtcNow());
                return _offers.Count;
            }
        }
    }

    /// <summary>
    /// Keeps <paramref name="offer"/> until its slots are taken, it lapses or the same worker's next offer replaces it. An offer
    /// without an address, slots or runtimes is ignored.
    /// </summary>
    public void Add(SlotsOffered offer)
    {
        ArgumentNullException.ThrowIfNull(offer);
        if (offer.WorkerAddress is null || offer.Slots <= 0 || offer.ValidFor <= TimeSpan.Zero || offer.Runtimes.Count == 0)
            return;
        var now = time.GetUtcNow();
        var validFor = offer.ValidFor < MaxValidFor ? offer.ValidFor : MaxValidFor;
        lock (_lock)
        {
            DropLapsed(now);
            if (_offers.Exists(o => o.OfferId == offer.OfferId))
                return;
            // A worker's new offer carries the slots its last one still held: it replaces it.
            _offers.RemoveAll(o => o.WorkerId == offer.WorkerId);
            _offers.Add(new Offer(offer.OfferId, offer.WorkerId, offer.WorkerAddress, offer.Runtimes.ToHashSet(StringComparer.Ordinal), now + validFor)
            {
                Remaining = offer.Slots,
            });
        }
    }

    /// <summary>
    /// Takes a slot for a run of <paramref name="runtime"/> from the live offer with the most left (so runs spread over the idle
    /// workers), or returns null when none is live.
    /// </summary>
    public OfferedSlot? TryTake(string runtime)
    {
        lock (_lock)
        {
            if (_offers.Count == 0)
                return null;
            DropLapsed(time.GetUtcNow());
            Offer? best = null;
            foreach (var offer in _offers)
            {
                if (offer.Runtimes.Contains(runtime) && (best is null || offer.Remaining > best.Remaining))
                    best = offer;
            }
            if (best is null)
                return null;
            if (--best.Remaining == 0)
                _offers.Remove(best);
            return new OfferedSlot(best.OfferId, best.WorkerId, best.WorkerAddress);
        }
    }

    void DropLapsed(DateTimeOffset now) => _offers.RemoveAll(o => o.ExpiresAt <= now);

    sealed record Offer(Guid OfferId, string WorkerId, Uri WorkerAddress, HashSet<string> Runtimes, DateTimeOffset ExpiresAt)
    {
        public int Remaining { get; set; }
    }
}
