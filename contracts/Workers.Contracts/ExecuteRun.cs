namespace Workers.Contracts;

/// <summary>
/// Dispatch of one attempt of a run to the queue of its runtime. A hint, not an order: the worker that
/// receives it must claim the run (<see cref="ClaimRun"/>) before doing anything, and drops it if refused.
/// </summary>
public sealed record ExecuteRun
{
    public Guid RunId { get; init; }

    public int Attempt { get; init; }

    public int Priority { get; init; }

    public string Input { get; init; } = "";

    public AgentSpec Agent { get; init; } = new();
}
