using System.Text.Json;

using Workers.Agents.Runtimes.Native.Providers;

namespace Workers.Agents.Runtimes.Native.Tools;

/// <summary>What a tool call produced: text for the model, and whether it is an error.</summary>
internal sealed record ToolOutput(string Text, bool IsError = false);

/// <summary>A tool the model can call: a built-in one or one an MCP server offers.</summary>
internal interface IAgentTool
{
    ToolDefinition Definition { get; }

    /// <summary>Runs the call. Problems the model caused (bad arguments, refused paths) throw <see cref="ToolException"/>.</summary>
    Task<ToolOutput> InvokeAsync(JsonElement arguments, CancellationToken cancellationToken);
}

/// <summary>Reads the arguments object the model sent.</summary>
internal static class ToolArguments
{
    public static string RequiredString(JsonElement arguments, string name) =>
        OptionalString(arguments, name) ?? throw new ToolException($"the argument '{name}' (text) is required");

    public static string? OptionalString(JsonElement arguments, string name) =>
        arguments.ValueKind == JsonValueKind.Object && arguments.TryGetProperty(name, out var value)
            ? value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Null => null,
                _ => throw new ToolException($"the argument '{name}' must be text"),
            }
            : null;

    public static int? OptionalInt(JsonElement arguments, string name) =>
        arguments.ValueKind == JsonValueKind.Object && arguments.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            ? value.TryGetInt32(out var number) ? number : throw new ToolException($"the argument '{name}' must be a whole number")
            : null;

    /// <summary>A JSON schema of an object with these text/number properties; <paramref name="required"/> names the ones that must be given.</summary>
    public static JsonElement Schema(IReadOnlyList<(string Name, string Type, string Description)> properties, params string[] required)
    {
        var schema = new Dictionary<string, object>
        {
            ["type"] = "object",
            ["properties"] = properties.ToDictionary(p => p.Name, p => new Dictionary<string, string> { ["type"] = p.Type, ["description"] = p.Description }),
            ["required"] = required,
        };
        return JsonSerializer.SerializeToElement(schema);
    }
}
