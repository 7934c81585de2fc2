using System.Text.Json;
using System.Text.Json.Serialization;

using Workers.Agents.Runtimes.Native.Providers;

namespace Workers.Agents.Runtimes.Native;

/// <summary>
/// What a checkpoint holds: the conversation after a completed step and the usage so far. Serialised as JSON into
/// <see cref="AgentCheckpoint.State"/>; <see cref="Version"/> lets a later format refuse an older one instead of misreading it.
/// </summary>
internal sealed record ConversationState(int Version, int Step, long InputTokens, long OutputTokens, decimal CostUsd, List<ChatMessage> Messages)
{
    public const int CurrentVersion = 1;

    /// <summary>The text that replaces a tool output dropped to keep a checkpoint under its size limit.</summary>
    public const string DroppedOutput = "[output dropped from the checkpoint to keep it under its size limit]";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>
    /// The state as JSON of at most <paramref name="maxLength"/> characters: past it, the oldest tool outputs' text is replaced
    /// by <see cref="DroppedOutput"/> one at a time until it fits (or nothing is left to drop).
    /// </summary>
    public string Serialize(int maxLength)
    {
        var text = JsonSerializer.Serialize(this, Json);
        if (text.Length <= maxLength)
        {
            return text;
        }

        var messages = Messages.ToList();
        for (var i = 0; i < messages.Count && text.Length > maxLength; i++)
        {
            if (messages[i].ToolResults is not { Count: > 0 } results || results.All(r => r.Content == DroppedOutput))
            {
                continue;
            }

            messages[i] = messages[i] with { ToolResults = [.. results.Select(r => r with { Content = DroppedOutput })] };
            text = JsonSerializer.Serialize(this with { Messages = messages }, Json);
        }

        return text;
    }

    /// <summary>The state in <paramref name="text"/>, or null when it is not a state this version can read.</summary>
    public static ConversationState? Deserialize(string text)
    {
        try
        {
            var state = JsonSerializer.Deserialize<ConversationState>(text, Json);
            return state is { Version: CurrentVersion, Messages.Count: > 0 } ? state : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
