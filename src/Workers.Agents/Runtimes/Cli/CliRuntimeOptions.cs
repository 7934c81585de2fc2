namespace Workers.Agents.Runtimes.Cli;

/// <summary>
/// How an external agent CLI runtime (<c>claude-code</c>, <c>codex</c>, <c>gemini</c>, <c>cursor</c>) finds and stops its CLI.
/// Named options, one instance per runtime, bound from <c>Workers:Runtimes:ClaudeCode</c>, <c>Workers:Runtimes:Codex</c>,
/// <c>Workers:Runtimes:Gemini</c> and <c>Workers:Runtimes:Cursor</c>.
/// </summary>
public sealed class CliRuntimeOptions
{
    /// <summary>
    /// The CLI executable: a path, or a name looked up on PATH. Default: the CLI's usual name (<c>claude</c>, <c>codex</c>,
    /// <c>gemini</c>, <c>cursor-agent</c>) on PATH or in <c>~/.local/bin</c>. An agent's own <c>command</c> setting wins.
    /// </summary>
    public string? Command { get; set; }

    /// <summary>
    /// How long a cancelled CLI gets after its graceful interrupt (SIGINT) before it is sent SIGTERM. Default 5 seconds; at most 5 minutes.
    /// </summary>
    public TimeSpan InterruptGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long the CLI's processes get after SIGTERM before the whole tree is killed. Default 5 seconds; at most 5 minutes.
    /// </summary>
    public TimeSpan TerminationGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The most characters of the final result kept as the run's output (the end is kept). Default 256 Ki; from 1 Ki to 16 Mi.</summary>
    public int MaxOutputLength { get; set; } = 256 * 1024;

    /// <summary>How long a prerequisite probe (e.g. <c>claude auth status</c>) may take before it counts as failed. Default 10 seconds.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    internal static TimeSpan MaxGracePeriod { get; } = TimeSpan.FromMinutes(5);

    internal const int MinOutputLength = 1024;

    internal const int MaxOutputLengthLimit = 16 * 1024 * 1024;
}
