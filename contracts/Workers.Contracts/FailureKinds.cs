namespace Workers.Contracts;

/// <summary>Failure kinds (<see cref="RunFailed.Kind"/>) that both sides of the bus name.</summary>
public static class FailureKinds
{
    /// <summary>
    /// The attempt's lease lapsed: the orchestrator saw it expire unrenewed, or the worker saw it lapse on its own clock and
    /// stopped the agent. Retried like any failure, at the restart priority.
    /// </summary>
    public const string LeaseExpired = "lease-expired";
}
