namespace Workers.Contracts;

/// <summary>
/// A run handed to a worker on a slot it offered (<see cref="SlotsOffered"/>): the attempt and its lease together, granted
/// when the run was accepted. The worker runs it as if it had claimed it; one it cannot run is handed back
/// (<see cref="RunReleased"/>) and goes to its runtime's queue.
/// </summary>
public sealed record RunAssigned
{
    /// <summary>The offer whose slot the run takes.</summary>
    public Guid OfferId { get; init; }

    public ExecuteRun Run { get; init; } = new();

    public RunClaimed Lease { get; init; } = new();
}
