using System.Text.Json;

namespace Workers.Agents.Runtimes.Cli;

/// <summary>
/// What sets one agent CLI apart: its name, settings, command line, credentials, event stream and exit codes.
/// <see cref="CliRuntime"/> does the rest (launching, draining, stopping, deciding the outcome).
/// </summary>
internal abstract class CliDialect
{
    /// <summary>The runtime name, e.g. <c>claude-code</c>.</summary>
    public abstract string Runtime { get; }

    /// <summary>The CLI's name for messages, e.g. <c>Claude Code</c>.</summary>
    public abstract string DisplayName { get; }

    /// <summary>The options section, e.g. <c>Workers:Runtimes:ClaudeCode</c>.</summary>
    public abstract string OptionsSection { get; }

    /// <summary>Executable names tried on PATH (and in <c>~/.local/bin</c>) when no command is configured, best first.</summary>
    public abstract IReadOnlyList<string> DefaultCommands { get; }

    /// <summary>How to install the CLI, for the missing-binary message.</summary>
    public abstract string InstallHint { get; }

    /// <summary>The install page.</summary>
    public abstract string InstallUrl { get; }

    /// <summary>The authentication page.</summary>
    public abstract string AuthUrl { get; }

    /// <summary>Settings beyond <see cref="CliSettings.Common"/>.</summary>
    public abstract IReadOnlyList<CliSetting> Settings { get; }

    /// <summary>Settings other CLIs have and this one does not, with why: rejected rather than silently ignored.</summary>
    public virtual IReadOnlyDictionary<string, string> Unsupported { get; } = new Dictionary<string, string>();

    public CliSettings? ParseSettings(JsonElement? settings, List<SettingsProblem> problems) =>
        CliSettings.Parse(Runtime, Settings, Unsupported, settings, problems);

    /// <summary>The arguments after the executable, the prompt included (stdin is closed).</summary>
    public abstract IReadOnlyList<string> BuildArguments(CliSettings settings, AgentInvocation invocation);

    /// <summary>Environment variables the runtime sets before the agent's own <c>env</c> (which may override them).</summary>
    public virtual IReadOnlyDictionary<string, string> DefaultEnvironment { get; } = new Dictionary<string, string>();

    /// <summary>
    /// Null when credentials are configured, else what is missing. <paramref name="executable"/> is the resolved CLI, for
    /// CLIs whose login state is only known by asking them.
    /// </summary>
    public abstract ValueTask<string?> FindCredentialsProblemAsync(CliEnvironment environment, string executable, CliProbe probe, CancellationToken cancellationToken);

    /// <summary>A parser for one run's stdout.</summary>
    public abstract CliStream CreateStream(IAgentEventSink events);

    /// <summary>What a non-zero exit code means when no final result said so; null for a generic failure.</summary>
    public virtual CliTerminal? DescribeExitCode(int exitCode) => null;

    /// <summary>
    /// Appends the prompt as the last argument; a prompt that starts with '-' goes after <c>--</c> so the CLI cannot take it
    /// for an option.
    /// </summary>
    protected static void AddPositionalPrompt(List<string> arguments, string prompt)
    {
        if (prompt.StartsWith('-'))
        {
            arguments.Add("--");
        }

        arguments.Add(prompt);
    }
}

/// <summary>How a CLI's run ended, as its final event (or exit code) says.</summary>
/// <param name="Succeeded">True for a successful final result.</param>
/// <param name="Output">The final result text ("" when there is none).</param>
/// <param name="Error">Why it failed (null on success).</param>
/// <param name="Kind">A <see cref="CliFailureKinds"/> value (ignored on success).</param>
/// <param name="Retryable">Whether another attempt might succeed.</param>
internal sealed record CliTerminal(bool Succeeded, string Output, string? Error, string Kind, bool Retryable)
{
    public static CliTerminal Success(string output) => new(true, output, null, "", false);

    public static CliTerminal Failure(string error, string kind, bool retryable, string output = "") => new(false, output, error, kind, retryable);
}

/// <summary>The worker's environment, as a runtime sees it (injectable so tests control PATH, HOME and credentials).</summary>
internal sealed class CliEnvironment(Func<string, string?> variables)
{
    public static CliEnvironment Process { get; } = new(Environment.GetEnvironmentVariable);

    /// <summary>The variable's value, or null when unset or blank.</summary>
    public string? Get(string name) => variables(name) is { } value && !string.IsNullOrWhiteSpace(value) ? value : null;

    /// <summary>True when the variable is set to <c>true</c> or <c>1</c>.</summary>
    public bool IsTrue(string name) => Get(name) is { } value && (value.Trim() == "1" || value.Trim().Equals("true", StringComparison.OrdinalIgnoreCase));

    /// <summary>The first of <paramref name="names"/> that is set, or null.</summary>
    public string? FirstSet(params string[] names) => Array.Find(names, name => Get(name) is not null);

    public string Home => Get("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    public string? SearchPath => variables("PATH");
}

/// <summary>Runs a CLI briefly (e.g. <c>claude auth status</c>) to ask about its state; null when it could not be run in time.</summary>
internal delegate Task<CliProbeResult?> CliProbe(string executable, IReadOnlyList<string> arguments, CancellationToken cancellationToken);

/// <summary>What a probe printed and how it exited.</summary>
internal sealed record CliProbeResult(int ExitCode, string Stdout, string Stderr);
