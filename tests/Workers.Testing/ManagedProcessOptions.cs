namespace Workers.Testing;

/// <summary>How <see cref="ManagedProcess"/> starts a child process.</summary>
public sealed class ManagedProcessOptions
{
    /// <summary>A short name for log lines and failure messages, e.g. <c>worker-2</c>. Default: the file name.</summary>
    public string? Name { get; init; }

    /// <summary>Working directory. Default: the test process's current directory.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>
    /// Environment variables to set (or, with a null value, remove) on top of the test process's own environment,
    /// e.g. <c>Environment = FleetEnvironment.Worker(vhost)</c>, or <c>Environment = { ["NAME"] = "value" }</c>.
    /// </summary>
    public IDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>(StringComparer.Ordinal);

    /// <summary>
    /// Receives every output line, prefixed with the name, as it arrives (e.g. <see cref="TestOutput.ForCurrentTest"/>).
    /// Exceptions it throws are ignored, so a sink that outlives its test cannot crash the process reader.
    /// </summary>
    public Action<string>? Log { get; init; }

    /// <summary>Most lines kept in <see cref="ManagedProcess.Output"/>; older lines are dropped first. Default 100,000.</summary>
    public int MaxBufferedLines { get; init; } = 100_000;
}
