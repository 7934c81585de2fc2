namespace Workers.Contracts;

/// <summary>
/// An idle worker holds <see cref="Slots"/> free slots for new runs of its <see cref="Runtimes"/>. While the offer lasts, the
/// orchestrator may hand a run it accepts straight to the worker (<see cref="RunAssigned"/>), leased in the same commit that
/// records it, instead of sending it through its runtime's queue to be claimed. Sent only while the worker's queues are quiet,
/// so a run with a backlog ahead of it never jumps the queue.
/// </summary>
public sealed record SlotsOffered
{
    public string WorkerId { get; init; } = "";

    /// <summary>
    /// The worker's mailbox, where the orchestrator sends <see cref="RunAssigned"/> and <see cref="StopRun"/>
    /// (through the shared exchange, by its queue name).
    /// </summary>
    public Uri? WorkerAddress { get; init; }

    /// <summary>Unique per offer; every assignment made on it names it.</summary>
    public Guid OfferId { get; init; }

    public IReadOnlyList<string> Runtimes { get; init; } = [];

    /// <summary>How many runs the offer may take.</summary>
    public int Slots { get; init; }

    /// <summary>How long after it arrives the offer may be used. The worker holds the slots a little longer.</summary>
    public TimeSpan ValidFor { get; init; }
}
