namespace Workers.Contracts;

/// <summary>
/// Per-run limits: the retry policy and the timeouts. Every member is optional; unset members fall back to the agent
/// definition, then the fleet default (<c>Workers:Runs</c>). Durations are JSON strings such as <c>"00:05:00"</c>.
/// </summary>
public sealed record RunLimits
{
    /// <summary>How many attempts a run may take in all, the first included (1 = no retries).</summary>
    public int? MaxAttempts { get; init; }

    /// <summary>Backoff before the second attempt; it doubles per attempt (with ±20% jitter) up to <see cref="RetryMaxDelay"/>.</summary>
    public TimeSpan? RetryInitialDelay { get; init; }

    /// <summary>The longest backoff between two attempts.</summary>
    public TimeSpan? RetryMaxDelay { get; init; }

    /// <summary>
    /// Failure kinds (<c>RunFailed.Kind</c>, e.g. <c>exit-code</c>) that end the run at once, beside the failures the
    /// agent or runtime already marks not retryable (invalid input or settings, missing prerequisites, the agent said so).
    /// </summary>
    public IReadOnlyList<string>? NonRetryableErrors { get; init; }

    /// <summary>Schedule-to-start: the longest an attempt may wait in the queue before a worker starts it. Ends the run.</summary>
    public TimeSpan? ScheduleToStartTimeout { get; init; }

    /// <summary>Start-to-close: the longest one attempt may run. The attempt is stopped and retried if attempts remain.</summary>
    public TimeSpan? StartToCloseTimeout { get; init; }

    /// <summary>Schedule-to-close: the longest the whole run may take from submission, retries included. Ends the run.</summary>
    public TimeSpan? ScheduleToCloseTimeout { get; init; }

    /// <summary>
    /// Stall: the longest an attempt may go without progress (any agent event) while its worker still heartbeats.
    /// The attempt is stopped; the run ends unless <see cref="RetryOnStall"/>.
    /// </summary>
    public TimeSpan? StallTimeout { get; init; }

    /// <summary>Retry an attempt that stalled (if attempts remain) instead of ending the run.</summary>
    public bool? RetryOnStall { get; init; }
}
