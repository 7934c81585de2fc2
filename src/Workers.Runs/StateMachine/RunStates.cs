namespace Workers.Runs.StateMachine;

/// <summary>The names of the run states as stored in the saga-state table. Never rename one: rows hold them.</summary>
public static class RunStates
{
    public const string Queued = nameof(Queued);
    public const string Running = nameof(Running);
    public const string Cancelling = nameof(Cancelling);
    public const string RetryScheduled = nameof(RetryScheduled);
    public const string Succeeded = nameof(Succeeded);
    public const string Failed = nameof(Failed);
    public const string Cancelled = nameof(Cancelled);
    public const string Rejected = nameof(Rejected);

    /// <summary>A timeout passed while an attempt ran: its worker is told to stop; then the run retries or times out.</summary>
    public const string TimingOut = nameof(TimingOut);

    /// <summary>Ended by a timeout; <see cref="RunState.ErrorKind"/> says which.</summary>
    public const string TimedOut = nameof(TimedOut);

    /// <summary>States a run never leaves.</summary>
    public static IReadOnlyList<string> Terminal { get; } = [Succeeded, Failed, Cancelled, Rejected, TimedOut];

    /// <summary>Every state, for validating filters.</summary>
    public static IReadOnlyList<string> All { get; } = [Queued, Running, Cancelling, TimingOut, RetryScheduled, Succeeded, Failed, Cancelled, Rejected, TimedOut];

    public static bool IsTerminal(string state) => Terminal.Contains(state);
}
