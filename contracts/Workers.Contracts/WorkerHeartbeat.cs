namespace Workers.Contracts;

/// <summary>
/// One message per worker per interval, renewing every lease it holds. Deliberately not per run (it carries
/// no single RunId): a thousand concurrent runs must not cost a thousand messages a second.
/// Answered with <see cref="LeasesRenewed"/>.
/// </summary>
public sealed record WorkerHeartbeat
{
    public string WorkerId { get; init; } = "";

    public string HostName { get; init; } = "";

    /// <summary>The runtimes this worker offers.</summary>
    public IReadOnlyList<string> Runtimes { get; init; } = [];

    /// <summary>Runtimes this worker was asked to offer but cannot, each with what is missing and where to read how to fix it.</summary>
    public IReadOnlyList<UnavailableRuntime> Unavailable { get; init; } = [];

    /// <summary>Total execution slots (bounded concurrency).</summary>
    public int Slots { get; init; }

    public DateTimeOffset StartedAt { get; init; }

    /// <summary>True once the worker has stopped taking new work (draining).</summary>
    public bool Draining { get; init; }

    /// <summary>
    /// Since when this worker's mailbox has been down, if it is: its queue was lost (a broker restart, a lost connection)
    /// and not declared again yet. Meanwhile it takes no work and hears no answer, although its heartbeats get through.
    /// </summary>
    public DateTimeOffset? MailboxDownSince { get; init; }

    public IReadOnlyList<HeldLease> Leases { get; init; } = [];

    /// <summary>
    /// Offers of slots this worker has given up because its mailbox queue was created again (a broker restart or a lost
    /// connection deletes a temporary queue with the messages in it), so hand-overs made on them may never arrive. Each
    /// names the leases that did arrive; a run leased on one of these offers under any other lease never reached this worker
    /// and never will (a late hand-over on a given-up offer is handed back). Listed for a while after the loss, whatever the
    /// orchestrator answered: heartbeats are lost too.
    /// </summary>
    public IReadOnlyList<ForgottenOffer> ForgottenOffers { get; init; } = [];
}

/// <summary>An offer a worker gave up (<see cref="WorkerHeartbeat.ForgottenOffers"/>) and the leases handed over on it that it did receive.</summary>
public sealed record ForgottenOffer
{
    public Guid OfferId { get; init; }

    public IReadOnlyList<Guid> ReceivedLeases { get; init; } = [];
}

/// <summary>A runtime a worker does not offer because a prerequisite is missing (a CLI not installed, no credentials).</summary>
public sealed record UnavailableRuntime
{
    public string Runtime { get; init; } = "";

    public string Problem { get; init; } = "";

    public string? HelpUrl { get; init; }
}
