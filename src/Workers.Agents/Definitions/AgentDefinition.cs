using System.Text.Json;

using Workers.Contracts;

namespace Workers.Agents.Definitions;

/// <summary>One agent from the definitions file.</summary>
public sealed record AgentDefinition
{
    public required string Name { get; init; }

    public string? Description { get; init; }

    /// <summary>The runtimes this agent can run on, in order of preference (the first is the default).</summary>
    public required IReadOnlyList<string> Runtimes { get; init; }

    /// <summary>Each runtime's settings section (e.g. the <c>process:</c> block), as JSON.</summary>
    public IReadOnlyDictionary<string, JsonElement> Settings { get; init; } = new Dictionary<string, JsonElement>();

    public AgentLimits Limits { get; init; } = new();

    /// <summary>The repository cloned into each run's workspace (a request may give its own); null: an empty workspace.</summary>
    public WorkspaceSpec? Workspace { get; init; }
}

/// <summary>Limits from the definition (retry policy and timeouts); the request may override each. Null: the fleet default.</summary>
public sealed record AgentLimits
{
    /// <summary>Attempts in all, the first included.</summary>
    public int? MaxAttempts { get; init; }

    /// <summary>Backoff before the second attempt (doubles per attempt, with jitter).</summary>
    public TimeSpan? RetryInitialDelay { get; init; }

    /// <summary>The longest backoff between attempts.</summary>
    public TimeSpan? RetryMaxDelay { get; init; }

    /// <summary>Failure kinds that end the run at once.</summary>
    public IReadOnlyList<string>? NonRetryableErrors { get; init; }

    /// <summary>Longest wait in the queue per attempt.</summary>
    public TimeSpan? ScheduleToStartTimeout { get; init; }

    /// <summary>Longest single attempt.</summary>
    public TimeSpan? StartToCloseTimeout { get; init; }

    /// <summary>Longest run, from submission, retries included.</summary>
    public TimeSpan? ScheduleToCloseTimeout { get; init; }

    /// <summary>Longest time without progress while the worker heartbeats.</summary>
    public TimeSpan? StallTimeout { get; init; }

    /// <summary>Retry a stalled attempt instead of ending the run.</summary>
    public bool? RetryOnStall { get; init; }
}
