using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Workers.Contracts;
using Workers.Worker.Execution;

namespace Workers.Worker.Intake;

/// <summary>
/// While this worker's queues are quiet, keeps half of its free slots offered to the orchestrator (<see cref="SlotsOffered"/>),
/// which leases a run it accepts to an offered slot at once and hands it over (<see cref="RunAssigned"/>): the run skips the
/// dispatch queue and the claim, two messages, a commit and two hops. An offer's slots are held for as long as the
/// orchestrator may use it (its validity, plus the way there and back), so every assignment made on it finds its slot. A
/// new offer goes out when the last one is used up or about to lapse, so an idle worker always has one out.
/// </summary>
/// <remarks>
/// A dispatch that has to wait for a slot means this worker is the bottleneck and its queue may hold a backlog: no offer is
/// made for <see cref="BusyPause"/>, so new runs queue behind the backlog in priority order instead of overtaking it. An
/// assignment this worker cannot take (its offer's slots gone, draining, an offer it no longer knows) is handed back and
/// goes to the queue. When the mailbox queue is declared again (<see cref="WorkerMailbox.Generation"/>), hand-overs sent to
/// the old one may be lost with it: every offer made so far is given up, and the heartbeat lists them with the leases that
/// did arrive (<see cref="ForgottenOffers"/>), so the orchestrator hands back the runs that never will.
/// </remarks>
public sealed partial class SlotOfferer(
    SlotPool slots,
    DrainState drain,
    RuntimeOffer runtimes,
    RunExecutor executor,
    ConfirmedPublisher publisher,
    IBus bus,
    WorkerMailbox mailbox,
    WorkerIdentity identity,
    IOptions<WorkerOptions> options,
    ILogger<SlotOfferer> logger) : BackgroundService
{
    /// <summary>How long the orchestrator may use an offer after it arrives.</summary>
    public static readonly TimeSpan ValidFor = TimeSpan.FromSeconds(1);

    /// <summary>How long an offer's slots are held beyond <see cref="ValidFor"/>: the offer's way there and an assignment's way back.</summary>
    public static readonly TimeSpan HoldMargin = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// How long no offer is made after a dispatch had to wait for a slot: longer than an offer's slots are held, so the last
    /// offer lapses within the pause and its slots come back to the pool, where the waiting dispatch takes one. A shorter
    /// pause ended while that offer was live, and the next offer took its slots over, again and again: queued runs waited
    /// for the re-dispatch timer beside slots held for offers nobody used.
    /// </summary>
    public static readonly TimeSpan BusyPause = ValidFor + HoldMargin + TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// How long an assignment that finds no slot held for it waits for one to free up before it is handed back. Well inside a
    /// lease (8 s by default), whose clock is already running.
    /// </summary>
    public static readonly TimeSpan SlotPatience = TimeSpan.FromSeconds(2);

    /// <summary>Most slots in one offer.</summary>
    public const int MaxSlotsPerOffer = 64;

    /// <summary>
    /// When the next offer goes out if the last is not used up: well before it lapses at the orchestrator, so a renewal held
    /// up by a loaded machine (a late timer, a slow publish) still arrives while the last offer is live.
    /// </summary>
    static readonly TimeSpan RenewAfter = ValidFor * 0.6;

    /// <summary>
    /// How long an offer's send time is remembered, to start the lease clock of an assignment that arrives late; and how long
    /// an offer given up with a lost mailbox is listed in heartbeats.
    /// </summary>
    static readonly TimeSpan Memory = TimeSpan.FromSeconds(30);

    /// <summary>How often an idle worker looks at its offers when nothing wakes it.</summary>
    static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);

    readonly Lock _lock = new();
    readonly List<Offer> _held = [];
    readonly Dictionary<Guid, long> _sentAt = [];
    readonly Dictionary<Guid, Guid> _successors = [];
    readonly Dictionary<Guid, List<Guid>> _received = [];
    readonly List<(ForgottenOffer Offer, long At)> _forgotten = [];
    int _mailboxGeneration;
    readonly SemaphoreSlim _wake = new(0, 1);
    long _newestSentAt;
    long _pausedUntil;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.OfferIdleSlots || runtimes.Offered.Count == 0)
            return;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await OfferIfIdleAsync(stoppingToken).ConfigureAwait(false);
                await _wake.WaitAsync(UntilNextLook(), stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            lock (_lock)
                ReleaseHeld(_ => true);
        }
    }

    /// <summary>A dispatch is waiting for a slot: make no offer for a while.</summary>
    public void DispatchWaiting()
    {
        lock (_lock)
            _pausedUntil = Stopwatch.GetTimestamp() + (long)(BusyPause.TotalSeconds * Stopwatch.Frequency);
    }

    async Task OfferIfIdleAsync(CancellationToken stoppingToken)
    {
        SlotsOffered offer;
        lock (_lock)
        {
            var now = Stopwatch.GetTimestamp();
            Forget(now);
            ForgetIfMailboxRecreated(now);
            // A hand-over to a mailbox that is down would be lost, and its lease left to lapse.
            if (drain.IsDraining || !mailbox.IsReady)
            {
                ReleaseHeld(_ => true);
                return;
            }
            ReleaseHeld(o => Stopwatch.GetElapsedTime(o.SentAt, now) >= ValidFor + HoldMargin);
            // The newest offer: gone from the held ones once used up (or never sent).
            var newest = _held.Find(o => o.SentAt == _newestSentAt);
            if (newest is not null && Stopwatch.GetElapsedTime(_newestSentAt, now) < RenewAfter)
                return;
            if (now < _pausedUntil)
                return;
            // The next offer replaces the newest at the orchestrator, so it takes over the slots that one still holds.
            var held = newest?.Held ?? 0;
            var wanted = Math.Min((slots.Free + held) / 2, MaxSlotsPerOffer);
            while (held < wanted && slots.TryTake())
                held++;
            if (held == 0)
                return;
            var id = NewId.NextGuid();
            if (newest is not null)
            {
                _held.Remove(newest);
                _successors[newest.Id] = id;
            }
            _held.Add(new Offer(id, now) { Held = held });
            _sentAt[id] = now;
            _newestSentAt = now;
            offer = new SlotsOffered
            {
                WorkerId = identity.WorkerId,
                WorkerAddress = mailbox.Address,
                OfferId = id,
                Runtimes = [.. runtimes.Offered.Keys],
                Slots = held,
                ValidFor = ValidFor,
            };
        }
        try
        {
            await bus.Publish(offer, stoppingToken).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // An offer that did not leave is withdrawn; runs come through the queue meanwhile.
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
#pragma warning restore CA1031
        {
            LogOfferFailed(logger, ex.Message);
            lock (_lock)
            {
                ReleaseHeld(o => o.Id == offer.OfferId);
            }
        }
    }

    /// <summary>
    /// Until the newest offer is due for renewal, or a tick when it is used up or already due (it was looked at just now and
    /// could not be renewed: paused, or no free slots).
    /// </summary>
    TimeSpan UntilNextLook()
    {
        lock (_lock)
        {
            if (!_held.Exists(o => o.SentAt == _newestSentAt))
                return Tick;
            var left = RenewAfter - Stopwatch.GetElapsedTime(_newestSentAt);
            return left > TimeSpan.Zero && left < Tick ? left : Tick;
        }
    }

    /// <summary>
    /// Starts an assigned run on a slot its offer (or the offer that took over its slots) holds, or on a free one, or on the
    /// first that frees up within <see cref="SlotPatience"/>; else hands it back. Awaited by the mailbox's consumer, so a
    /// hand-back during shutdown leaves before the bus stops.
    /// </summary>
    internal async Task TakeAsync(RunAssigned assigned)
    {
        string? refusal = null;
        long sentAt;
        var hasSlot = false;
        lock (_lock)
        {
            ForgetIfMailboxRecreated(Stopwatch.GetTimestamp());
            // A redelivered hand-over (its first delivery was taken but not acknowledged) is the same lease: taken once, and
            // never handed back while it runs, not even once its offer was given up.
            if (WasReceived(assigned.OfferId, assigned.Lease.LeaseId))
            {
                LogDuplicateAssignment(logger, assigned.Run.RunId, assigned.Run.Attempt);
                return;
            }
            if (!_sentAt.TryGetValue(assigned.OfferId, out sentAt))
            {
                refusal = "assigned on an offer this worker does not know";
            }
            else
            {
                if (!_received.TryGetValue(assigned.OfferId, out var received))
                    _received[assigned.OfferId] = received = [];
                received.Add(assigned.Lease.LeaseId);
                if (drain.IsDraining)
                    refusal = "the worker is shutting down";
                else
                    hasSlot = TakeHeld(assigned.OfferId) || slots.TryTake();
            }
        }
        if (refusal is null && !hasSlot)
        {
            // Offered slots held too briefly for a loaded orchestrator: a slot of a finishing run is a better home than the queue.
            // Waited for here, in the handler: rare, bounded, and a hand-back during shutdown must leave before the bus stops.
            try
            {
                hasSlot = await slots.TryTakeAsync(SlotPatience, drain.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (drain.IsDraining)
            {
            }
            if (!hasSlot)
                refusal = drain.IsDraining ? "the worker is shutting down" : "no slot came free in time";
        }
        if (refusal is null)
        {
            executor.StartLeased(assigned.Run, assigned.Lease, sentAt);
            return;
        }
        LogHandedBack(logger, assigned.Run.RunId, assigned.Run.Attempt, refusal);
        await publisher.PublishAsync(new RunReleased
        {
            RunId = assigned.Run.RunId,
            Attempt = assigned.Run.Attempt,
            LeaseId = assigned.Lease.LeaseId,
            WorkerId = identity.WorkerId,
            Reason = $"not started: {refusal}",
        }, 1).ConfigureAwait(false);
    }

    /// <summary>
    /// The offers given up in the last <see cref="Memory"/> because the mailbox queue was declared again, each with the leases
    /// that arrived on it: for the heartbeat, so the orchestrator hands back the runs leased on them that never arrived.
    /// </summary>
    public IReadOnlyList<ForgottenOffer> ForgottenOffers()
    {
        lock (_lock)
        {
            var now = Stopwatch.GetTimestamp();
            ForgetIfMailboxRecreated(now);
            _forgotten.RemoveAll(f => Stopwatch.GetElapsedTime(f.At, now) >= Memory);
            return _forgotten.Count == 0 ? [] : _forgotten.ConvertAll(f => f.Offer);
        }
    }

    bool WasReceived(Guid offerId, Guid leaseId) =>
        (_received.TryGetValue(offerId, out var received) && received.Contains(leaseId))
        || _forgotten.Exists(f => f.Offer.OfferId == offerId && f.Offer.ReceivedLeases.Contains(leaseId));

    /// <summary>
    /// After the mailbox queue was declared again, gives up every offer made so far: a hand-over on one may have been lost with
    /// the old queue, and one that still comes is handed back, so what did arrive on each is final.
    /// </summary>
    void ForgetIfMailboxRecreated(long now)
    {
        var generation = mailbox.Generation;
        if (generation == _mailboxGeneration)
            return;
        _mailboxGeneration = generation;
        foreach (var id in _sentAt.Keys)
            _forgotten.Add((new ForgottenOffer { OfferId = id, ReceivedLeases = _received.TryGetValue(id, out var received) ? [.. received] : [] }, now));
        LogMailboxRecreated(logger, _sentAt.Count);
        _sentAt.Clear();
        _successors.Clear();
        _received.Clear();
        ReleaseHeld(_ => true);
    }

    /// <summary>Takes a slot held for offer <paramref name="offerId"/>, or for the offers that took over its slots.</summary>
    bool TakeHeld(Guid offerId)
    {
        for (var id = offerId; ;)
        {
            var offer = _held.Find(o => o.Id == id);
            if (offer is { Held: > 0 })
            {
                offer.Held--;
                if (offer.Held == 0)
                {
                    _held.Remove(offer);
                    // The newest used up: the next offer goes out now, not at the next tick.
                    if (_newestSentAt == offer.SentAt && _wake.CurrentCount == 0)
                        _wake.Release();
                }
                return true;
            }
            if (!_successors.TryGetValue(id, out id))
                return false;
        }
    }

    /// <summary>Gives back the slots held for the offers <paramref name="which"/> selects.</summary>
    void ReleaseHeld(Predicate<Offer> which)
    {
        foreach (var offer in _held.FindAll(which))
        {
            for (var i = 0; i < offer.Held; i++)
                slots.Release();
            _held.Remove(offer);
        }
    }

    void Forget(long now)
    {
        foreach (var (id, sentAt) in _sentAt)
        {
            if (Stopwatch.GetElapsedTime(sentAt, now) >= Memory)
            {
                _sentAt.Remove(id);
                _successors.Remove(id);
                _received.Remove(id);
            }
        }
        _forgotten.RemoveAll(f => Stopwatch.GetElapsedTime(f.At, now) >= Memory);
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }

    sealed record Offer(Guid Id, long SentAt)
    {
        public int Held { get; set; }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Offering idle slots failed ({Error}); runs come through the queue meanwhile")]
    static partial void LogOfferFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Run {RunId} attempt {Attempt} handed back: {Reason}")]
    static partial void LogHandedBack(ILogger logger, Guid runId, int attempt, string reason);

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "Run {RunId} attempt {Attempt} handed over again; already taken")]
    static partial void LogDuplicateAssignment(ILogger logger, Guid runId, int attempt);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning,
        Message = "The mailbox queue was declared again (broker restart or lost connection); {Count} offer(s) given up, and runs handed over on them that never arrived are handed back")]
    static partial void LogMailboxRecreated(ILogger logger, int count);
}
