namespace Workers.Contracts;

/// <summary>
/// Asks the fleet to run an agent. Publish it to the <c>Workers.Contracts:SubmitRun</c> exchange.
/// </summary>
/// <remarks>
/// <see cref="RunId"/> is chosen by the producer and is the idempotency key: submitting the same id twice
/// creates one run. An invalid request is not dropped: the run is recorded as <c>Rejected</c> with a reason.
/// </remarks>
public sealed record SubmitRun
{
    /// <summary>Client-chosen run id; the idempotency key.</summary>
    public Guid RunId { get; init; }

    /// <summary>Name of an agent in the fleet's agent definitions.</summary>
    public string Agent { get; init; } = "";

    /// <summary>The task for the agent (a prompt, or whatever the agent reads on its input).</summary>
    public string Input { get; init; } = "";

    /// <summary>0 (lowest) to 9 (highest). Default 0.</summary>
    public int Priority { get; init; }

    /// <summary>Optional runtime; must be one the agent supports. Null picks the agent's first runtime.</summary>
    public string? Runtime { get; init; }

    /// <summary>Optional tenant, for filtering and accounting.</summary>
    public string? Tenant { get; init; }

    /// <summary>Optional free-form labels, kept on the run row.</summary>
    public IReadOnlyDictionary<string, string>? Labels { get; init; }

    /// <summary>Optional limits that override the agent definition's.</summary>
    public RunLimits? Limits { get; init; }

    /// <summary>Optional repository to clone into the run's workspace; overrides the agent definition's.</summary>
    public WorkspaceSpec? Workspace { get; init; }
}
