using System.Text.Json;

using Anthropic;
using Anthropic.Core;
using Anthropic.Exceptions;
using Anthropic.Models.Messages;

namespace Workers.Agents.Runtimes.Native.Providers;

/// <summary>The messages API with client tools (tool_use / tool_result blocks) through the official Anthropic SDK.</summary>
#pragma warning disable CA1001 // The SDK client only wraps the HttpClient ProviderEdge owns and shares; disposing it would dispose that.
internal sealed class AnthropicModelClient(Uri baseUrl, string model, string apiKey, HttpClient http) : IModelClient
{
    private const string Provider = "Anthropic";

#pragma warning restore CA1001
    private readonly AnthropicClient _client = new(new ClientOptions
    {
        ApiKey = apiKey,
        BaseUrl = baseUrl.AbsoluteUri.TrimEnd('/'),
        HttpClient = http,

        // Retries and timeouts belong to the provider edge's pipeline.
        MaxRetries = 0,
        Timeout = Timeout.InfiniteTimeSpan,
    });

    public async Task<ModelResponse> CompleteAsync(ModelRequest request, CancellationToken cancellationToken)
    {
        var parameters = new MessageCreateParams
        {
            Model = model,
            MaxTokens = request.MaxOutputTokens,
            Messages = [.. request.Messages.Select(ToWire)],
            Tools = [.. request.Tools.Select(ToWire)],
        };
        if (!string.IsNullOrEmpty(request.SystemPrompt))
        {
            parameters = parameters with { System = request.SystemPrompt };
        }

        try
        {
            // Reading the content is inside the try: the SDK parses lazily and a malformed body throws there.
            return Read(await _client.Messages.Create(parameters, cancellationToken).ConfigureAwait(false));
        }
        catch (AnthropicApiException ex) when (ex.StatusCode != 0)
        {
            throw ProviderErrors.FromStatus(Provider, (int)ex.StatusCode, ex.ApiMessage ?? ex.Message, ex);
        }
        catch (AnthropicInvalidDataException ex)
        {
            throw new ProviderException(NativeFailureKinds.ProviderBadResponse, true, $"{Provider} sent a response that could not be read: {ex.Message}", ex);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ProviderErrors.FromTransport(Provider, ex) is { } error)
        {
            throw error;
        }
    }

    private static ModelResponse Read(Message message)
    {
        List<string> texts = [];
        List<ToolCall> calls = [];
        foreach (var block in message.Content)
        {
            if (block.TryPickText(out var text))
            {
                texts.Add(text.Text);
            }
            else if (block.TryPickToolUse(out var use))
            {
                calls.Add(new ToolCall(use.ID, use.Name, JsonSerializer.Serialize(use.Input)));
            }
        }

        var joined = string.Concat(texts);
        return new ModelResponse(joined.Length == 0 ? null : joined, calls, message.Usage.InputTokens, message.Usage.OutputTokens);
    }

    private static MessageParam ToWire(ChatMessage message)
    {
        if (message.Role == ChatRole.Assistant)
        {
            List<ContentBlockParam> blocks = [];
            if (!string.IsNullOrEmpty(message.Text))
            {
                blocks.Add(new TextBlockParam { Text = message.Text });
            }

            foreach (var call in message.ToolCalls ?? [])
            {
                blocks.Add(new ToolUseBlockParam { ID = call.Id, Name = call.Name, Input = Arguments(call.Arguments) });
            }

            return new AssistantMessageParam { Content = blocks };
        }

        List<ContentBlockParam> content = [];
        foreach (var result in message.ToolResults ?? [])
        {
            content.Add(new ToolResultBlockParam { ToolUseID = result.CallId, Content = result.Content, IsError = result.IsError });
        }

        if (!string.IsNullOrEmpty(message.Text))
        {
            content.Add(new TextBlockParam { Text = message.Text });
        }

        return new UserMessageParam { Content = content };
    }

    private static ToolUnion ToWire(ToolDefinition tool)
    {
        var properties = tool.InputSchema.TryGetProperty("properties", out var p) && p.ValueKind == JsonValueKind.Object
            ? p.EnumerateObject().ToDictionary(e => e.Name, e => e.Value.Clone(), StringComparer.Ordinal)
            : [];
        var required = tool.InputSchema.TryGetProperty("required", out var r) && r.ValueKind == JsonValueKind.Array
            ? r.EnumerateArray().Select(e => e.GetString() ?? "").ToList()
            : [];
        return new Tool
        {
            Name = tool.Name,
            Description = tool.Description,
            InputSchema = new InputSchema { Properties = properties, Required = required },
        };
    }

    /// <summary>The model's arguments as a JSON object; anything else (a model that sent broken JSON) becomes an empty object.</summary>
    private static Dictionary<string, JsonElement> Arguments(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? document.RootElement.EnumerateObject().ToDictionary(e => e.Name, e => e.Value.Clone(), StringComparer.Ordinal)
                : [];
        }
        catch (JsonException)
        {
            return [];
        }
    }
}
