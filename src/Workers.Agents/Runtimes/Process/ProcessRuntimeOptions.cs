namespace Workers.Agents.Runtimes;

/// <summary>How the <c>process</c> runtime treats its child processes. Bound from <c>Workers:Runtimes:Process</c>.</summary>
public sealed class ProcessRuntimeOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "Workers:Runtimes:Process";

    /// <summary>
    /// How long a cancelled agent's processes get after SIGTERM to finish before they are killed (Linux; elsewhere
    /// the tree is killed at once). Default 5 seconds; zero kills at once. At most 5 minutes.
    /// </summary>
    public TimeSpan TerminationGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The most characters of output kept as the run's result (the end is kept, with a note that the start was
    /// dropped). Default 256 Ki; from 1 Ki to 16 Mi.
    /// </summary>
    public int MaxOutputLength { get; set; } = 256 * 1024;

    internal static TimeSpan MaxTerminationGracePeriod { get; } = TimeSpan.FromMinutes(5);

    internal const int MinOutputLength = 1024;

    internal const int MaxOutputLengthLimit = 16 * 1024 * 1024;
}
