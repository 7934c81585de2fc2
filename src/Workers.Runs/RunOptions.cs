using System.ComponentModel.DataAnnotations;

namespace Workers.Runs;

/// <summary>Lifecycle policy of the orchestrator. Section <c>Workers:Runs</c>.</summary>
public sealed class RunOptions
{
    public const string SectionName = "Workers:Runs";

    /// <summary>
    /// How long a lease lasts without a heartbeat. A lost worker's runs restart elsewhere after at most this; a live worker
    /// whose renewals go unanswered for this less one heartbeat interval (6 s with the defaults) kills its agents.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(8);

    /// <summary>Attempts in all when neither the request nor the agent says (1 = no retries).</summary>
    [Range(1, 100)]
    public int DefaultMaxAttempts { get; set; } = 3;

    /// <summary>Backoff before the second attempt; doubles per attempt, with ±20% jitter.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest backoff between attempts.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Failure kinds that end a run at once, for every agent (added to the agent's and the request's own lists).</summary>
    public IList<string> NonRetryableErrors { get; } = [];

    /// <summary>Default schedule-to-start timeout (longest wait in the queue per attempt). Unset: none.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan? ScheduleToStartTimeout { get; set; }

    /// <summary>Default start-to-close timeout (longest attempt). Unset: none.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan? StartToCloseTimeout { get; set; }

    /// <summary>Default schedule-to-close timeout (longest run, retries included). Unset: none.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan? ScheduleToCloseTimeout { get; set; }

    /// <summary>Default stall timeout (longest time without agent events while heartbeating). Unset: none.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00")]
    public TimeSpan? StallTimeout { get; set; }

    /// <summary>Retry stalled attempts by default instead of ending the run.</summary>
    public bool RetryOnStall { get; set; }

    /// <summary>
    /// A queued attempt not claimed within this is dispatched again (its message may have been lost); the wait
    /// doubles per re-dispatch up to <see cref="RedispatchMaxDelay"/> so a long backlog is not flooded with copies.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan RedispatchDelay { get; set; } = TimeSpan.FromSeconds(30);

    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan RedispatchMaxDelay { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Largest accepted input, in characters.</summary>
    [Range(1, 64 * 1024 * 1024)]
    public int MaxInputLength { get; set; } = 1024 * 1024;

    /// <summary>Largest stored output, in characters (longer output keeps its tail).</summary>
    [Range(1024, 64 * 1024 * 1024)]
    public int MaxOutputLength { get; set; } = 1024 * 1024;
}
