namespace Workers.Agents.Runtimes.Cli;

/// <summary>The <see cref="AgentOutcome.Failed.Kind"/> values the CLI runtimes report.</summary>
public static class CliFailureKinds
{
    /// <summary>The CLI is missing or cannot be started. Not retryable.</summary>
    public const string Prerequisite = "prerequisite";

    /// <summary>The agent's settings section is unusable (an inline spec; the catalog rejects bad files). Not retryable.</summary>
    public const string InvalidSettings = "invalid-settings";

    /// <summary>The attempt's workspace could not be created on this worker. Retryable.</summary>
    public const string Workspace = "workspace";

    /// <summary>The task text is too long to pass as a command-line argument. Not retryable.</summary>
    public const string InputTooLarge = "input-too-large";

    /// <summary>The CLI hit its turn limit. Not retryable.</summary>
    public const string MaxTurns = "max-turns";

    /// <summary>The CLI hit its spending limit. Not retryable.</summary>
    public const string Budget = "budget";

    /// <summary>The model provider's API failed; retryable unless the status says the request itself is wrong.</summary>
    public const string Api = "api";

    /// <summary>The CLI has no usable credentials. Not retryable.</summary>
    public const string Auth = "auth";

    /// <summary>The CLI rejected its configuration, input, sandbox or workspace. Not retryable.</summary>
    public const string Config = "config";

    /// <summary>The CLI reported an error of its own (execution error, failed turn, fatal tool error). Retryable.</summary>
    public const string AgentError = "agent-error";

    /// <summary>The CLI exited with a non-zero code and no error result. Retryable.</summary>
    public const string ExitCode = "exit-code";

    /// <summary>The CLI's event stream ended without a final result. Retryable.</summary>
    public const string NoResult = "no-result";
}
