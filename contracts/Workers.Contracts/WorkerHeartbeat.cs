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

    public IReadOnlyList<HeldLease> Leases { get; init; } = [];
}

/// <summary>A runtime a worker does not offer because a prerequisite is missing (a CLI not installed, no credentials).</summary>
public sealed record UnavailableRuntime
{
    public string Runtime { get; init; } = "";

    public string Problem { get; init; } = "";

    public string? HelpUrl { get; init; }
}
