using System.Globalization;
using System.Text.Json;

using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

using Workers.Agents.Runtimes.Native.Providers;
using Workers.Agents.Runtimes.Native.Tools;

namespace Workers.Agents.Runtimes.Native;

/// <summary>
/// The <c>native</c> runtime: the built-in tool-calling loop. Sends the agent's system prompt and the task to the model
/// (OpenAI-compatible or Anthropic, through their official SDKs), runs the tools it asks for in the attempt's workspace, feeds
/// the results back, and stops on a final answer, the step limit, the token or cost budget, or cancellation. After every step
/// it emits a <see cref="AgentEvent.Checkpoint"/>; an attempt given <see cref="AgentInvocation.ResumeFrom"/> continues from it.
/// </summary>
/// <remarks>Settings, tools, sandbox rules and resume semantics: docs/native-runtime.md.</remarks>
public sealed partial class NativeRuntime : IAgentRuntime, IDisposable
{
    /// <summary>Added to the conversation when an attempt resumes: the workspace is the new attempt's, not the one the model saw.</summary>
    internal const string ResumeNote =
        "[The run was interrupted and resumed on a new attempt from the last completed step. The workspace is a fresh directory: "
        + "files written before the interruption may be missing. Check before relying on them.]";

    private readonly NativeRuntimeOptions _options;
    private readonly ProviderEdge _edge;
    private readonly ILogger _logger;

    /// <summary>Creates the runtime with default options, the system clock and no logging.</summary>
    public NativeRuntime()
        : this(Options.Create(new NativeRuntimeOptions()), TimeProvider.System, NullLogger<NativeRuntime>.Instance)
    {
    }

    public NativeRuntime(IOptions<NativeRuntimeOptions> options, TimeProvider timeProvider, ILogger<NativeRuntime> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        _options = options.Value;
        _edge = new ProviderEdge(options, timeProvider);
        _logger = logger;
    }

    public string Name => RuntimeNames.Native;

    public bool SupportsCheckpoints => true;

    /// <summary>Always satisfied: keys are per agent, so a missing key fails that agent's runs, not the worker.</summary>
    public ValueTask<PrerequisiteCheck> CheckPrerequisitesAsync(CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(PrerequisiteCheck.Ok);

    public async Task<AgentOutcome> RunAsync(AgentInvocation invocation, IAgentEventSink events, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        ArgumentNullException.ThrowIfNull(events);
        if (cancellationToken.IsCancellationRequested)
        {
            return new AgentOutcome.Cancelled();
        }

        var agent = invocation.Agent.Name;
        var problems = new List<SettingsProblem>();
        if (NativeSettings.Parse(invocation.Agent.Settings, problems) is not { } settings)
        {
            return SettingsValues.Invalid(agent, Name, problems, NativeFailureKinds.InvalidSettings);
        }

        if (ApiKeys.Resolve(settings.ApiKey, settings.BaseDirectory, out var problem) is not { } key)
        {
            return new AgentOutcome.Failed($"Agent '{agent}' has no API key: {problem}.", NativeFailureKinds.ProviderAuth, Retryable: false);
        }

        try
        {
            Directory.CreateDirectory(invocation.WorkspaceDirectory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new AgentOutcome.Failed($"The workspace '{invocation.WorkspaceDirectory}' could not be created: {ex.Message}", NativeFailureKinds.Workspace, Retryable: true);
        }

        try
        {
            var outcome = await RunLoopAsync(invocation, settings, key, events, cancellationToken).ConfigureAwait(false);
            if (outcome is AgentOutcome.Failed failed)
            {
                LogFailed(_logger, invocation.RunId, invocation.Attempt, failed.Kind, failed.Error);
            }

            return outcome;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new AgentOutcome.Cancelled();
        }
    }

    public void Dispose() => _edge.Dispose();

    private async Task<AgentOutcome> RunLoopAsync(
        AgentInvocation invocation, NativeSettings settings, string key, IAgentEventSink events, CancellationToken cancellationToken)
    {
        var sandbox = new WorkspaceSandbox(invocation.WorkspaceDirectory);
        McpToolSource mcp;
        try
        {
            mcp = await McpToolSource.StartAsync(settings.McpServers, sandbox.Root, settings.BaseDirectory, _options.McpStartTimeout, _options.CommandTimeout, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (McpServerException ex)
        {
            return new AgentOutcome.Failed(ex.Message, NativeFailureKinds.McpServer, Retryable: true);
        }

        await using (mcp.ConfigureAwait(false))
        {
            var tools = BuiltInTools.Create(settings.Tools, sandbox, _options).Concat(mcp.Tools)
                .ToDictionary(t => t.Definition.Name, StringComparer.Ordinal);
            var definitions = tools.Values.Select(t => t.Definition).ToList();
            var client = CreateClient(settings, key);
            var price = _options.Prices.GetValueOrDefault(settings.Model);

            var state = Restore(invocation, events) ?? new ConversationState(
                ConversationState.CurrentVersion, 0, 0, 0, 0, [new ChatMessage(ChatRole.User, invocation.Input)]);
            if (state.Messages[^1] is { Role: ChatRole.Assistant, ToolCalls: null or { Count: 0 } } finished)
            {
                // The checkpoint was taken after the final answer: the run is done.
                return new AgentOutcome.Succeeded(finished.Text ?? "");
            }

            while (true)
            {
                if (BudgetProblem(settings, state) is { } budget)
                {
                    return new AgentOutcome.Failed(budget, NativeFailureKinds.BudgetExceeded, Retryable: false, LastText(state));
                }

                var step = state.Step + 1;
                if (step > settings.MaxSteps)
                {
                    return new AgentOutcome.Failed(
                        string.Create(CultureInfo.InvariantCulture, $"The model had not given a final answer after {settings.MaxSteps} steps (maxSteps)."),
                        NativeFailureKinds.MaxSteps, Retryable: false, LastText(state));
                }

                ModelResponse response;
                try
                {
                    response = await client.CompleteAsync(
                        new ModelRequest(settings.Model, settings.SystemPrompt, state.Messages, definitions, settings.MaxOutputTokens),
                        cancellationToken).ConfigureAwait(false);
                }
                catch (ProviderException ex)
                {
                    // A provider may echo (part of) the key in its message: it must not reach events or logs.
                    var message = ex.Message.Replace(key, "[api key]", StringComparison.Ordinal);
                    return new AgentOutcome.Failed(message, ex.Kind, ex.Retryable, LastText(state));
                }

                var cost = price?.Cost(response.InputTokens, response.OutputTokens) ?? 0m;
                events.Emit(new AgentEvent.Usage(1, response.InputTokens, response.OutputTokens, cost));
                if (!string.IsNullOrEmpty(response.Text))
                {
                    events.Emit(new AgentEvent.Message(response.Text));
                }

                var messages = new List<ChatMessage>(state.Messages) { new(ChatRole.Assistant, response.Text, response.ToolCalls) };
                if (response.ToolCalls.Count > 0)
                {
                    var results = new List<ToolResult>(response.ToolCalls.Count);
                    foreach (var call in response.ToolCalls)
                    {
                        results.Add(await InvokeToolAsync(tools, call, events, cancellationToken).ConfigureAwait(false));
                    }

                    messages.Add(new ChatMessage(ChatRole.User, ToolResults: results));
                }

                state = state with
                {
                    Step = step,
                    InputTokens = state.InputTokens + response.InputTokens,
                    OutputTokens = state.OutputTokens + response.OutputTokens,
                    CostUsd = state.CostUsd + cost,
                    Messages = messages,
                };
                events.Emit(new AgentEvent.Checkpoint(step, state.Serialize(_options.MaxCheckpointLength)));
                if (response.ToolCalls.Count == 0)
                {
                    return new AgentOutcome.Succeeded(response.Text ?? "");
                }
            }
        }
    }

    private IModelClient CreateClient(NativeSettings settings, string key)
    {
        var http = _edge.ClientFor(settings.BaseUrl);
        return settings.Provider == ProviderKind.OpenAI
            ? new OpenAiModelClient(settings.BaseUrl, settings.Model, key, http)
            : new AnthropicModelClient(settings.BaseUrl, settings.Model, key, http);
    }

    /// <summary>The state to resume from, with <see cref="ResumeNote"/> added; null to start over (no checkpoint, or one this version cannot read).</summary>
    private static ConversationState? Restore(AgentInvocation invocation, IAgentEventSink events)
    {
        if (invocation.ResumeFrom is not { } checkpoint)
        {
            return null;
        }

        if (ConversationState.Deserialize(checkpoint.State) is not { } state)
        {
            events.Emit(new AgentEvent.Log(
                string.Create(CultureInfo.InvariantCulture, $"The checkpoint of attempt {checkpoint.Attempt} (step {checkpoint.Step}) could not be read; starting over.")));
            return null;
        }

        events.Emit(new AgentEvent.Resumed(state.Step, checkpoint.Attempt));
        var messages = state.Messages;
        if (messages[^1] is { Role: ChatRole.User } last)
        {
            messages = [.. messages.SkipLast(1), last with { Text = string.IsNullOrEmpty(last.Text) ? ResumeNote : last.Text + "\n\n" + ResumeNote }];
        }

        return state with { Messages = messages };
    }

    private async Task<ToolResult> InvokeToolAsync(
        Dictionary<string, IAgentTool> tools, ToolCall call, IAgentEventSink events, CancellationToken cancellationToken)
    {
        events.Emit(new AgentEvent.ToolStarted(call.Name, OutputText.Head(call.Arguments, _options.MaxEventOutputLength), call.Id));
        ToolOutput output;
        try
        {
            if (!tools.TryGetValue(call.Name, out var tool))
            {
                throw new ToolException($"there is no tool named '{call.Name}'; the tools are: {string.Join(", ", tools.Keys)}");
            }

            using var arguments = ParseArguments(call.Arguments);
            output = await tool.InvokeAsync(arguments.RootElement, cancellationToken).ConfigureAwait(false);
        }
        catch (ToolException ex)
        {
            output = new ToolOutput("Error: " + ex.Message, IsError: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Text.DecoderFallbackException)
        {
            output = new ToolOutput("Error: " + ex.Message, IsError: true);
        }

        events.Emit(new AgentEvent.ToolCompleted(call.Name, OutputText.Head(output.Text, _options.MaxEventOutputLength), output.IsError, call.Id));
        return new ToolResult(call.Id, OutputText.Head(output.Text, _options.MaxToolOutputLength), output.IsError);
    }

    private static JsonDocument ParseArguments(string arguments)
    {
        try
        {
            var document = JsonDocument.Parse(string.IsNullOrWhiteSpace(arguments) ? "{}" : arguments);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                throw new ToolException("the arguments must be a JSON object");
            }

            return document;
        }
        catch (JsonException ex)
        {
            throw new ToolException($"the arguments are not valid JSON: {ex.Message}");
        }
    }

    private static string? BudgetProblem(NativeSettings settings, ConversationState state)
    {
        var tokens = state.InputTokens + state.OutputTokens;
        if (settings.MaxTokens is { } maxTokens && tokens >= maxTokens)
        {
            return string.Create(CultureInfo.InvariantCulture, $"The run used {tokens} tokens, reaching its token budget of {maxTokens} (maxTokens).");
        }

        return settings.MaxCostUsd is { } maxCost && state.CostUsd >= maxCost
            ? string.Create(CultureInfo.InvariantCulture, $"The run cost ${state.CostUsd:0.######}, reaching its cost budget of ${maxCost} (maxCostUsd).")
            : null;
    }

    private static string? LastText(ConversationState state) =>
        state.Messages.LastOrDefault(m => m.Role == ChatRole.Assistant && !string.IsNullOrEmpty(m.Text))?.Text;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Run {RunId} attempt {Attempt} failed ({Kind}): {Error}")]
    private static partial void LogFailed(ILogger logger, Guid runId, int attempt, string kind, string error);
}
