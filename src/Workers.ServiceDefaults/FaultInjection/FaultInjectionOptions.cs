namespace Workers.ServiceDefaults.FaultInjection;

/// <summary>
/// Crashes on purpose, to prove that a crash at the worst moment loses nothing (the failure-semantics tests and the chaos
/// suite set these). Section <c>Workers:FaultInjection</c>. Leave unset in production: every setting kills the process.
/// </summary>
public sealed class FaultInjectionOptions
{
    public const string SectionName = "Workers:FaultInjection";

    /// <summary>
    /// The name of a message type (e.g. <c>ExecuteRun</c>): the process dies the moment it is about to send the first one,
    /// after the saga committed the transition that produced it (the commit-to-send gap).
    /// </summary>
    public string? CrashBeforeSending { get; set; }

    /// <summary>
    /// A worker dies right after its claim is granted, before the agent starts or any event is sent, when the run's input
    /// contains this text (the claim-to-first-event gap; a run that kills every worker it reaches).
    /// </summary>
    public string? CrashAfterClaimWhenInputContains { get; set; }

    public bool Enabled => CrashBeforeSending is not null || CrashAfterClaimWhenInputContains is not null;

    /// <summary>Ends the process at once, without cleanup, like <c>kill -9</c>.</summary>
    public static void Crash(string why) => Environment.FailFast($"fault injection (Workers:FaultInjection): {why}");
}
