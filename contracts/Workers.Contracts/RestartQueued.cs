namespace Workers.Contracts;

/// <summary>
/// Published after an attempt was dispatched again at the restart priority (its worker lost the lease or handed it
/// back). A worker whose consumer of that runtime's queue holds a dispatch of a lower priority while it waits for a
/// slot puts that one back, so the restart takes the next free slot instead of waiting behind it.
/// </summary>
public sealed record RestartQueued
{
    public Guid RunId { get; init; }

    public int Attempt { get; init; }

    /// <summary>The runtime whose queue the restart was sent to.</summary>
    public string Runtime { get; init; } = "";

    /// <summary>The dispatch's queue priority.</summary>
    public int Priority { get; init; }
}
