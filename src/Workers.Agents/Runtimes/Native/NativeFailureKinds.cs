namespace Workers.Agents.Runtimes.Native;

/// <summary>The <see cref="AgentOutcome.Failed.Kind"/> values the <c>native</c> runtime reports.</summary>
public static class NativeFailureKinds
{
    /// <summary>The agent's <c>native:</c> settings are unusable (an inline spec; the catalog rejects bad files). Not retryable.</summary>
    public const string InvalidSettings = "invalid-settings";

    /// <summary>No API key could be read, or the provider rejected it (401, 403). Not retryable.</summary>
    public const string ProviderAuth = "provider-auth";

    /// <summary>The provider rejected the request (400 and other 4xx). Not retryable.</summary>
    public const string ProviderBadRequest = "provider-bad-request";

    /// <summary>The provider kept failing (429, 5xx, timeouts, connection errors, open circuit) after the retries. Retryable.</summary>
    public const string ProviderUnavailable = "provider-unavailable";

    /// <summary>The provider answered with a body that is not a valid response. Retryable.</summary>
    public const string ProviderBadResponse = "provider-bad-response";

    /// <summary>The run used up its token or cost budget. Not retryable.</summary>
    public const string BudgetExceeded = "budget-exceeded";

    /// <summary>The model had not answered after the step limit. Not retryable.</summary>
    public const string MaxSteps = "max-steps";

    /// <summary>An MCP server failed to start or to list its tools; the message names it. Retryable.</summary>
    public const string McpServer = "mcp-server";

    /// <summary>The attempt's workspace directory is missing and could not be created. Retryable.</summary>
    public const string Workspace = "workspace";
}
