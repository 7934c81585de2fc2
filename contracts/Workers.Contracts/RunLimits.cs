namespace Workers.Contracts;

/// <summary>Per-run limits. Every member is optional; unset members fall back to the agent definition, then the fleet default.</summary>
public sealed record RunLimits
{
    /// <summary>How many attempts a run may take in all, the first included (1 = no retries).</summary>
    public int? MaxAttempts { get; init; }
}
