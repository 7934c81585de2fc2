namespace Workers.ServiceDefaults.FaultInjection;

/// <summary>
/// Crashes or stalls on purpose, to prove that a crash or a stall at the worst moment loses nothing (the failure-semantics
/// tests and the chaos suite set these). Section <c>Workers:FaultInjection</c>. Leave unset in production: every setting
/// kills or slows the process.
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

    /// <summary>
    /// The name of a message type (e.g. <c>ClaimRuns</c>): every one received waits <see cref="DelayConsumingBy"/> before it
    /// is consumed, like a process too busy to answer in time.
    /// </summary>
    public string? DelayConsuming { get; set; }

    /// <summary>How long <see cref="DelayConsuming"/> holds each message. Default: 5 s.</summary>
    public TimeSpan DelayConsumingBy { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Ends the process at once, without cleanup, like <c>kill -9</c>.</summary>
    public static void Crash(string why) => Environment.FailFast($"fault injection (Workers:FaultInjection): {why}");
}
