using System.Text.Json;

namespace Workers.Agents.Runtimes.Native.Providers;

/// <summary>Who said a <see cref="ChatMessage"/>.</summary>
internal enum ChatRole
{
    /// <summary>The task, tool results and runtime notes.</summary>
    User,

    /// <summary>The model: text and tool calls.</summary>
    Assistant,
}

/// <summary>A tool call the model asked for; <paramref name="Arguments"/> is the JSON object it sent.</summary>
internal sealed record ToolCall(string Id, string Name, string Arguments);

/// <summary>What a tool call returned, fed back to the model.</summary>
internal sealed record ToolResult(string CallId, string Content, bool IsError);

/// <summary>
/// One message of the provider-neutral conversation. A user message carries the results of the previous assistant message's
/// tool calls (if any) before its text; each provider maps it to its own wire shape.
/// </summary>
internal sealed record ChatMessage(
    ChatRole Role,
    string? Text = null,
    IReadOnlyList<ToolCall>? ToolCalls = null,
    IReadOnlyList<ToolResult>? ToolResults = null);

/// <summary>A tool offered to the model; <paramref name="InputSchema"/> is a JSON schema of an object.</summary>
internal sealed record ToolDefinition(string Name, string Description, JsonElement InputSchema);

/// <summary>One model call.</summary>
internal sealed record ModelRequest(
    string Model,
    string? SystemPrompt,
    IReadOnlyList<ChatMessage> Messages,
    IReadOnlyList<ToolDefinition> Tools,
    int MaxOutputTokens);

/// <summary>The model's answer: text, tool calls (none means a final answer) and the tokens the call used.</summary>
internal sealed record ModelResponse(string? Text, IReadOnlyList<ToolCall> ToolCalls, long InputTokens, long OutputTokens);

/// <summary>A provider's chat API behind one call; errors surface as <see cref="ProviderException"/>.</summary>
internal interface IModelClient
{
    Task<ModelResponse> CompleteAsync(ModelRequest request, CancellationToken cancellationToken);
}

/// <summary>A model call that failed; <see cref="Kind"/> is a <see cref="NativeRuntime"/> failure kind.</summary>
internal sealed class ProviderException(string kind, bool retryable, string message, Exception? inner = null) : Exception(message, inner)
{
    public string Kind { get; } = kind;

    public bool Retryable { get; } = retryable;
}
