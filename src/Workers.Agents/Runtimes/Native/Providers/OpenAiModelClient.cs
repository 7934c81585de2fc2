using System.ClientModel;
using System.ClientModel.Primitives;

using OpenAI;
using OpenAI.Chat;

namespace Workers.Agents.Runtimes.Native.Providers;

/// <summary>Chat completions with function tools through the official OpenAI SDK, against any OpenAI-compatible endpoint.</summary>
internal sealed class OpenAiModelClient(Uri baseUrl, string model, string apiKey, HttpClient http) : IModelClient
{
    private const string Provider = "OpenAI-compatible endpoint";

    private readonly ChatClient _client = new(model, new ApiKeyCredential(apiKey), new OpenAIClientOptions
    {
        Endpoint = baseUrl,
        Transport = new HttpClientPipelineTransport(http),

        // Retries and timeouts belong to the provider edge's pipeline.
        RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        NetworkTimeout = Timeout.InfiniteTimeSpan,
    });

    public async Task<ModelResponse> CompleteAsync(ModelRequest request, CancellationToken cancellationToken)
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = request.MaxOutputTokens };
        foreach (var tool in request.Tools)
        {
            options.Tools.Add(ChatTool.CreateFunctionTool(tool.Name, tool.Description, BinaryData.FromString(tool.InputSchema.GetRawText())));
        }

        try
        {
            // Reading the completion is inside the try: the SDK parses lazily and a malformed body throws there.
            return Read((await _client.CompleteChatAsync(ToWire(request), options, cancellationToken).ConfigureAwait(false)).Value);
        }
        catch (ClientResultException ex) when (ex.Status != 0)
        {
            throw ProviderErrors.FromStatus(Provider, ex.Status, ex.Message, ex);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ProviderErrors.FromTransport(Provider, ex) is { } error)
        {
            throw error;
        }
    }

    private static ModelResponse Read(ChatCompletion completion)
    {
        var text = string.Concat(completion.Content.Where(p => p.Kind == ChatMessageContentPartKind.Text).Select(p => p.Text));
        var calls = completion.ToolCalls.Select(c => new ToolCall(c.Id, c.FunctionName, c.FunctionArguments?.ToString() ?? "{}")).ToList();
        return new ModelResponse(
            text.Length == 0 ? null : text, calls, completion.Usage?.InputTokenCount ?? 0, completion.Usage?.OutputTokenCount ?? 0);
    }

    private static List<OpenAI.Chat.ChatMessage> ToWire(ModelRequest request)
    {
        List<OpenAI.Chat.ChatMessage> messages = [];
        if (!string.IsNullOrEmpty(request.SystemPrompt))
        {
            messages.Add(new SystemChatMessage(request.SystemPrompt));
        }

        foreach (var message in request.Messages)
        {
            if (message.Role == ChatRole.Assistant)
            {
                messages.Add(ToWireAssistant(message));
                continue;
            }

            foreach (var result in message.ToolResults ?? [])
            {
                messages.Add(new ToolChatMessage(result.CallId, result.IsError ? "Error: " + result.Content : result.Content));
            }

            if (!string.IsNullOrEmpty(message.Text))
            {
                messages.Add(new UserChatMessage(message.Text));
            }
        }

        return messages;
    }

    private static AssistantChatMessage ToWireAssistant(ChatMessage message)
    {
        if (message.ToolCalls is not { Count: > 0 } calls)
        {
            return new AssistantChatMessage(message.Text ?? "");
        }

        var wire = new AssistantChatMessage(calls.Select(c => ChatToolCall.CreateFunctionToolCall(c.Id, c.Name, BinaryData.FromString(c.Arguments))));
        if (!string.IsNullOrEmpty(message.Text))
        {
            wire.Content.Add(ChatMessageContentPart.CreateTextPart(message.Text));
        }

        return wire;
    }
}
