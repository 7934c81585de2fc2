namespace Workers.Cli;

/// <summary>
/// Everything a command touches outside its arguments: the streams, the environment, the clock.
/// Tests build one over string writers and run commands in-process.
/// </summary>
internal sealed class CliContext
{
    /// <summary>Results: tables, ids, run output, JSON documents.</summary>
    public required TextWriter Out { get; init; }

    /// <summary>Errors, progress and hints, so <see cref="Out"/> stays pipeable.</summary>
    public required TextWriter Error { get; init; }

    /// <summary>Read for <c>--input -</c>.</summary>
    public required TextReader In { get; init; }

    public Func<string, string?> GetEnvironmentVariable { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>Where relative paths (<c>--data</c>, <c>--agents</c>) start and where the agents file search begins.</summary>
    public string CurrentDirectory { get; init; } = Environment.CurrentDirectory;

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How often <c>--wait</c> and the demo ask for a run's state.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Whether Ctrl+C / SIGTERM cancel the running command. Off in tests, which must not hook the test host's signals.
    /// </summary>
    public bool HandleProcessTermination { get; init; }

    public static CliContext FromConsole() => new()
    {
        Out = Console.Out,
        Error = Console.Error,
        In = Console.In,
        HandleProcessTermination = true,
    };
}
