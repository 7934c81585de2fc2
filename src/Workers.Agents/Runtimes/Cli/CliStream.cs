using System.Text.Json;

namespace Workers.Agents.Runtimes.Cli;

/// <summary>
/// Reads one CLI run's stdout line by line. Lines that are not JSON objects, do not parse, or have an unknown type are
/// skipped (noise goes to the log); a handler that meets an unexpected shape skips that line too. Never throws.
/// Thread-safe enough for its use: only the stdout pump calls <see cref="Accept"/>; the runner reads the results after the
/// pump has finished.
/// </summary>
internal abstract class CliStream(IAgentEventSink events)
{
    /// <summary>Longest text carried by one message event.</summary>
    public const int MaxMessageLength = ProcessProtocol.MaxMessageLength;

    /// <summary>Longest tool input or output carried by one event.</summary>
    public const int MaxToolTextLength = ProcessProtocol.MaxToolTextLength;

    private const int MaxNoiseLength = 2000;

    private readonly Dictionary<string, string> _toolNames = new(StringComparer.Ordinal);

    /// <summary>The final result, once the CLI reported one.</summary>
    public CliTerminal? Terminal { get; protected set; }

    /// <summary>The best output available without a final result (e.g. the last assistant message), for cancelled or failed runs.</summary>
    public virtual string PartialOutput => "";

    protected IAgentEventSink Events => events;

    public void Accept(string line)
    {
        var text = line.AsSpan().Trim();
        if (text.IsEmpty)
        {
            return;
        }

        if (text[0] != '{')
        {
            events.Emit(new AgentEvent.Log(OutputText.Head(line, MaxNoiseLength)));
            return;
        }

        try
        {
            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                Handle(root, String(root, "type") ?? "");
            }
        }
        catch (JsonException)
        {
            events.Emit(new AgentEvent.Log(OutputText.Head(line, MaxNoiseLength)));
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or KeyNotFoundException or ArgumentException)
        {
            // A known type with a shape this adapter does not expect: skip the line rather than fail the run.
        }
    }

    /// <summary>Called once stdout has ended: flush anything buffered.</summary>
    public virtual void Complete()
    {
    }

    /// <summary>Handles one JSON object; unknown types are ignored.</summary>
    protected abstract void Handle(JsonElement root, string type);

    protected void Message(string? text)
    {
        if (!string.IsNullOrWhiteSpace(text))
        {
            events.Emit(new AgentEvent.Message(OutputText.Head(text, MaxMessageLength)));
        }
    }

    protected void ToolStarted(string tool, string? input, string? callId)
    {
        if (callId is not null)
        {
            _toolNames[callId] = tool;
        }

        events.Emit(new AgentEvent.ToolStarted(tool, Limit(input), callId));
    }

    /// <summary>True when a start was seen for <paramref name="callId"/>.</summary>
    protected bool HasStarted(string? callId) => callId is not null && _toolNames.ContainsKey(callId);

    /// <summary>Reports a completed tool call; <paramref name="tool"/> null means "the name its start had".</summary>
    protected void ToolCompleted(string? tool, string? output, bool isError, string? callId)
    {
        var name = tool ?? (callId is not null && _toolNames.TryGetValue(callId, out var started) ? started : "tool");
        events.Emit(new AgentEvent.ToolCompleted(name, Limit(output), isError, callId));
    }

    protected void Usage(int steps, long inputTokens, long outputTokens, decimal costUsd)
    {
        if (steps > 0 || inputTokens > 0 || outputTokens > 0 || costUsd > 0)
        {
            events.Emit(new AgentEvent.Usage(steps, inputTokens, outputTokens, costUsd));
        }
    }

    protected static string? Limit(string? text) => text is null ? null : OutputText.Head(text, MaxToolTextLength);

    /// <summary>A string property, or null when missing or not a string.</summary>
    protected static string? String(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    /// <summary>A property of any kind, or null when missing (or JSON null).</summary>
    protected static JsonElement? Property(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            ? value
            : null;

    /// <summary>An object property, or null.</summary>
    protected static JsonElement? Object(JsonElement element, string name) =>
        Property(element, name) is { ValueKind: JsonValueKind.Object } value ? value : null;

    /// <summary>The elements of an array property; empty when missing or not an array.</summary>
    protected static IEnumerable<JsonElement> Array(JsonElement element, string name) =>
        Property(element, name) is { ValueKind: JsonValueKind.Array } value ? value.EnumerateArray() : [];

    protected static long Long(JsonElement element, string name) =>
        Property(element, name) is { ValueKind: JsonValueKind.Number } value && value.TryGetInt64(out var number) && number > 0 ? number : 0;

    protected static decimal Decimal(JsonElement element, string name) =>
        Property(element, name) is { ValueKind: JsonValueKind.Number } value && value.TryGetDecimal(out var number) && number > 0 ? number : 0;

    protected static bool Boolean(JsonElement element, string name) =>
        Property(element, name) is { ValueKind: JsonValueKind.True };

    /// <summary>A property as text: strings as they are, anything else as compact JSON; null when missing.</summary>
    protected static string? Text(JsonElement element, string name) =>
        Property(element, name) is { } value ? AsText(value) : null;

    protected static string AsText(JsonElement value) =>
        value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : value.GetRawText();
}
