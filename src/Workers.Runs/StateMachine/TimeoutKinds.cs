namespace Workers.Runs.StateMachine;

/// <summary>The <see cref="RunState.ErrorKind"/> of each timeout; a run they end is <see cref="RunStates.TimedOut"/>.</summary>
public static class TimeoutKinds
{
    /// <summary>An attempt waited in the queue too long. Ends the run.</summary>
    public const string ScheduleToStart = "schedule-to-start-timeout";

    /// <summary>An attempt ran too long. Retried while attempts remain.</summary>
    public const string StartToClose = "start-to-close-timeout";

    /// <summary>The whole run took too long. Ends the run.</summary>
    public const string ScheduleToClose = "schedule-to-close-timeout";

    /// <summary>An attempt made no progress for too long while its worker heartbeated. Ends the run unless retryOnStall.</summary>
    public const string Stall = "stall-timeout";
}
