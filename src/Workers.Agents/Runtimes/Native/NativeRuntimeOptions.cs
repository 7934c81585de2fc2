using Microsoft.Extensions.Options;

namespace Workers.Agents.Runtimes.Native;

/// <summary>
/// Worker-wide settings of the <c>native</c> runtime: the price table, the provider edge's resilience, and tool limits.
/// Bound from <c>Workers:Runtimes:Native</c>. An agent's own settings (provider, model, key, budgets) are in its definition.
/// </summary>
public sealed class NativeRuntimeOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "Workers:Runtimes:Native";

    /// <summary>
    /// Prices per model name, in US dollars per million tokens, for the cost in usage events and the agents' cost budgets.
    /// A model missing here costs nothing (and a cost budget cannot stop it: set a token budget too).
    /// </summary>
    public Dictionary<string, ModelPrice> Prices { get; set; } = new(StringComparer.Ordinal);

    /// <summary>How long one provider call may take (each retry gets its own). Default 2 minutes; at most 30 minutes.</summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Retries of a provider call after 429, 408, 5xx, a timeout or a connection error. Default 4; from 0 to 20.</summary>
    public int MaxRetries { get; set; } = 4;

    /// <summary>The first retry's base delay, doubled each retry, with jitter. Default 1 second.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between retries, Retry-After included (a longer Retry-After is cut to this). Default 1 minute.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Share of failed calls to one endpoint, within the sampling duration, that opens its circuit. Default 0.5.</summary>
    public double CircuitBreakerFailureRatio { get; set; } = 0.5;

    /// <summary>Calls to one endpoint within the sampling duration before the circuit may open. Default 10.</summary>
    public int CircuitBreakerMinimumThroughput { get; set; } = 10;

    /// <summary>The window the failure ratio is measured over. Default 30 seconds.</summary>
    public TimeSpan CircuitBreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an open circuit fails calls at once before letting one through. Default 30 seconds.</summary>
    public TimeSpan CircuitBreakerBreakDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long the shell tool lets a command run before killing its process group, and how long an MCP tool call may take
    /// before it is reported to the model as failed. Default 2 minutes.
    /// </summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The most characters of a tool's output fed back to the model (the rest is cut with a note). Default 32 Ki.</summary>
    public int MaxToolOutputLength { get; set; } = 32 * 1024;

    /// <summary>The most characters of a tool's output in a <see cref="AgentEvent.ToolCompleted"/> event. Default 2 Ki.</summary>
    public int MaxEventOutputLength { get; set; } = 2 * 1024;

    /// <summary>How long an MCP server may take to start and list its tools. Default 30 seconds.</summary>
    public TimeSpan McpStartTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The largest checkpoint state, in characters; past it the oldest tool outputs' text is dropped. Default 4 Mi.</summary>
    public int MaxCheckpointLength { get; set; } = 4 * 1024 * 1024;

    internal bool IsValid(out string problem)
    {
        problem = this switch
        {
            { CallTimeout: var t } when t <= TimeSpan.Zero || t > TimeSpan.FromMinutes(30) => $"{nameof(CallTimeout)} must be more than zero and at most 00:30:00",
            { MaxRetries: < 0 or > 20 } => $"{nameof(MaxRetries)} must be from 0 to 20",
            { RetryBaseDelay: var d } when d < TimeSpan.Zero || d > MaxRetryDelay => $"{nameof(RetryBaseDelay)} must be from zero to {nameof(MaxRetryDelay)}",
            { MaxRetryDelay: var d } when d < TimeSpan.Zero || d > TimeSpan.FromMinutes(10) => $"{nameof(MaxRetryDelay)} must be from zero to 00:10:00",
            { CircuitBreakerFailureRatio: <= 0 or > 1 } => $"{nameof(CircuitBreakerFailureRatio)} must be more than 0 and at most 1",
            { CircuitBreakerMinimumThroughput: < 2 } => $"{nameof(CircuitBreakerMinimumThroughput)} must be at least 2",
            { CircuitBreakerSamplingDuration: var d } when d < TimeSpan.FromMilliseconds(500) => $"{nameof(CircuitBreakerSamplingDuration)} must be at least 00:00:00.5",
            { CircuitBreakerBreakDuration: var d } when d < TimeSpan.FromMilliseconds(500) => $"{nameof(CircuitBreakerBreakDuration)} must be at least 00:00:00.5",
            { CommandTimeout: var t } when t <= TimeSpan.Zero => $"{nameof(CommandTimeout)} must be more than zero",
            { MaxToolOutputLength: < 256 } => $"{nameof(MaxToolOutputLength)} must be at least 256",
            { MaxEventOutputLength: < 64 } => $"{nameof(MaxEventOutputLength)} must be at least 64",
            { McpStartTimeout: var t } when t <= TimeSpan.Zero => $"{nameof(McpStartTimeout)} must be more than zero",
            { MaxCheckpointLength: < 64 * 1024 } => $"{nameof(MaxCheckpointLength)} must be at least 65536",
            _ when Prices.Any(p => p.Value is null || p.Value.InputPerMillionTokens < 0 || p.Value.OutputPerMillionTokens < 0) =>
                $"{nameof(Prices)} must not hold negative prices",
            _ => "",
        };
        return problem.Length == 0;
    }
}

/// <summary>A model's price in US dollars per million tokens.</summary>
public sealed class ModelPrice
{
    /// <summary>Dollars per million input (prompt) tokens.</summary>
    public decimal InputPerMillionTokens { get; set; }

    /// <summary>Dollars per million output (completion) tokens.</summary>
    public decimal OutputPerMillionTokens { get; set; }

    /// <summary>The cost of a call that used these tokens.</summary>
    public decimal Cost(long inputTokens, long outputTokens) =>
        ((inputTokens * InputPerMillionTokens) + (outputTokens * OutputPerMillionTokens)) / 1_000_000m;
}

/// <summary>Checks <see cref="NativeRuntimeOptions"/> at start; a failure names the setting, e.g. <c>Workers:Runtimes:Native:MaxRetries</c>.</summary>
internal sealed class NativeRuntimeOptionsValidator : IValidateOptions<NativeRuntimeOptions>
{
    public ValidateOptionsResult Validate(string? name, NativeRuntimeOptions options) =>
        options.IsValid(out var problem)
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"{NativeRuntimeOptions.SectionName}:{problem}.");
}
