using System.Text.Json;

namespace Workers.Agents.Runtimes;

/// <summary>
/// Reads a process agent's stdout: the JSONL protocol of <c>docs/process-protocol.md</c>. A line that is a JSON object
/// with a known <c>type</c> is an event; every other line is plain output. Thread-safe: the stdout pump writes while the
/// runtime may take a snapshot.
/// </summary>
internal sealed class ProcessProtocol(IAgentEventSink events, int maxOutputLength)
{
    public const string MessageType = "message";
    public const string ToolStartedType = "tool_started";
    public const string ToolCompletedType = "tool_completed";
    public const string UsageType = "usage";
    public const string ResultType = "result";
    public const string ErrorType = "error";

    /// <summary>Longest text carried by one message event; the stored output has its own, larger cap.</summary>
    public const int MaxMessageLength = 64 * 1024;

    /// <summary>Longest tool input or output carried by one event.</summary>
    public const int MaxToolTextLength = 16 * 1024;

    private const string NoErrorMessage = "The agent reported an error without a message.";

    private readonly Lock _gate = new();
    private readonly OutputTail _plainOutput = new(maxOutputLength);
    private string? _result;
    private AgentError? _error;

    /// <summary>The first <c>error</c> event, if any: it decides the attempt's outcome whatever the exit code.</summary>
    public AgentError? Error
    {
        get
        {
            lock (_gate)
            {
                return _error;
            }
        }
    }

    /// <summary>The run's output so far: the last <c>result</c> event's output, else the plain output lines; both capped, keeping the end.</summary>
    public string Output
    {
        get
        {
            lock (_gate)
            {
                return _result is not null ? OutputText.Tail(_result, maxOutputLength) : _plainOutput.ToString();
            }
        }
    }

    /// <summary>Handles one line of stdout.</summary>
    public void Accept(string line)
    {
        AgentEvent? agentEvent;
        using (var document = ParseObject(line))
        {
            if (document is null || !TryInterpret(document.RootElement, out agentEvent))
            {
                lock (_gate)
                {
                    _plainOutput.Add(line);
                }

                agentEvent = string.IsNullOrWhiteSpace(line) ? null : new AgentEvent.Message(OutputText.Head(line, MaxMessageLength));
            }
        }

        if (agentEvent is not null)
        {
            events.Emit(agentEvent);
        }
    }

    private static JsonDocument? ParseObject(string line)
    {
        var text = line.AsSpan().Trim();
        if (text.Length < 2 || text[0] != '{' || text[^1] != '}')
        {
            return null;
        }

        try
        {
            return JsonDocument.Parse(line);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>False when <paramref name="root"/> is not a protocol event; mistyped or missing fields take their defaults.</summary>
    private bool TryInterpret(JsonElement root, out AgentEvent? agentEvent)
    {
        agentEvent = null;
        switch (String(root, "type"))
        {
            case MessageType:
                agentEvent = new AgentEvent.Message(OutputText.Head(String(root, "text") ?? "", MaxMessageLength));
                return true;

            case ToolStartedType:
                agentEvent = new AgentEvent.ToolStarted(
                    String(root, "tool") ?? "unknown",
                    Limit(Value(root, "input"), MaxToolTextLength),
                    Value(root, "callId"));
                return true;

            case ToolCompletedType:
                agentEvent = new AgentEvent.ToolCompleted(
                    String(root, "tool") ?? "unknown",
                    Limit(Value(root, "output"), MaxToolTextLength),
                    Boolean(root, "isError"),
                    Value(root, "callId"));
                return true;

            case UsageType:
                agentEvent = new AgentEvent.Usage(
                    (int)Math.Min(Count(root, "steps"), int.MaxValue),
                    Count(root, "inputTokens"),
                    Count(root, "outputTokens"),
                    Cost(root, "costUsd"));
                return true;

            case ResultType:
                lock (_gate)
                {
                    _result = Value(root, "output") ?? "";
                }

                return true;

            case ErrorType:
                lock (_gate)
                {
                    _error ??= new AgentError(String(root, "message") is { Length: > 0 } message ? message : NoErrorMessage, Boolean(root, "retryable"));
                }

                return true;

            default:
                return false;
        }
    }

    private static string? String(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>A string as is; any other JSON value as its JSON text (so an agent may put structured data in a result).</summary>
    private static string? Value(JsonElement root, string name) =>
        !root.TryGetProperty(name, out var value) ? null : value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Null or JsonValueKind.Undefined => null,
            _ => value.GetRawText(),
        };

    private static bool Boolean(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.True;

    private static long Count(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var count) && count > 0 ? count : 0;

    private static decimal Cost(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetDecimal(out var cost) && cost > 0 ? cost : 0;

    private static string? Limit(string? text, int max) => text is null ? null : OutputText.Head(text, max);
}

/// <summary>An <c>error</c> event: why the agent says it failed, and whether trying again might help.</summary>
internal sealed record AgentError(string Message, bool Retryable);

/// <summary>Keeps the last lines of stderr for failure messages and forwards every line as a log event.</summary>
internal sealed class StderrTail(IAgentEventSink events, int maxLines)
{
    private const int MaxKeptLineLength = 1000;
    private const int MaxLogLength = 8 * 1024;

    private readonly Lock _gate = new();
    private readonly Queue<string> _lines = new();

    public void Accept(string line)
    {
        lock (_gate)
        {
            _lines.Enqueue(OutputText.Head(line, MaxKeptLineLength));
            if (_lines.Count > maxLines)
            {
                _lines.Dequeue();
            }
        }

        if (!string.IsNullOrWhiteSpace(line))
        {
            events.Emit(new AgentEvent.Log(OutputText.Head(line, MaxLogLength)));
        }
    }

    public override string ToString()
    {
        lock (_gate)
        {
            return string.Join('\n', _lines);
        }
    }
}

/// <summary>Shields the pumps from a sink that throws: a broken sink must not stop a pipe from being drained.</summary>
internal sealed class GuardedEventSink(IAgentEventSink inner, Action<Exception> onFirstFailure) : IAgentEventSink
{
    private int _failed;

    public void Emit(AgentEvent agentEvent)
    {
        try
        {
            inner.Emit(agentEvent);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            if (Interlocked.Exchange(ref _failed, 1) == 0)
            {
                onFirstFailure(ex);
            }
        }
    }
}
