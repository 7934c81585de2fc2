using System.Text.Json;
using Workers.Agents.Runtimes;
using Workers.Contracts;

namespace Workers.Worker.Workspaces;

/// <summary>
/// An event sink in front of the run's own: forwards every event unchanged and keeps the commands the agent's shell
/// tools started, and its last message (the hand-off when the outcome carries no output). Thread-safe.
/// </summary>
public sealed class CommandRecorder(IAgentEventSink inner) : IAgentEventSink
{
    /// <summary>
    /// Tool names that run a shell command, as each runtime reports them: Claude Code <c>Bash</c>, Codex <c>command</c>
    /// (its <c>command_execution</c> items), Gemini <c>run_shell_command</c>, Cursor <c>shellToolCall</c>, and the names a
    /// process-runtime agent is likely to choose.
    /// </summary>
    static readonly HashSet<string> ShellTools = new(StringComparer.OrdinalIgnoreCase)
    {
        "Bash", "sh", "shell", "run_shell_command", "command", "command_execution", "shellToolCall", "shell_command",
        "local_shell", "exec", "exec_command", "terminal", "run_terminal_cmd", "run_command",
    };

    readonly Lock _lock = new();
    readonly List<string> _commands = [];
    int _dropped;
    string? _lastMessage;

    public void Emit(AgentEvent agentEvent)
    {
        ArgumentNullException.ThrowIfNull(agentEvent);
        switch (agentEvent)
        {
            case AgentEvent.ToolStarted { Tool: var tool, Input: var input } when ShellTools.Contains(tool) && CommandOf(input) is { } command:
                lock (_lock)
                {
                    if (_commands.Count < RunArtifacts.MaxCommands)
                        _commands.Add(command.Length <= RunArtifacts.MaxCommandLength ? command : command[..RunArtifacts.MaxCommandLength] + "…");
                    else
                        _dropped++;
                }
                break;
            case AgentEvent.Message { Text: var text } when !string.IsNullOrWhiteSpace(text):
                Volatile.Write(ref _lastMessage, text);
                break;
        }
        inner.Emit(agentEvent);
    }

    /// <summary>The commands so far, in order; past <see cref="RunArtifacts.MaxCommands"/>, a last entry counts the rest.</summary>
    public IReadOnlyList<string> Commands
    {
        get
        {
            lock (_lock)
                return _dropped == 0 ? [.. _commands] : [.. _commands, $"… and {_dropped} more"];
        }
    }

    /// <summary>The agent's last non-empty message.</summary>
    public string? LastMessage => Volatile.Read(ref _lastMessage);

    /// <summary>
    /// The command line in a tool's input: the input itself when it is plain text, else the <c>command</c> (or <c>cmd</c>)
    /// member of its JSON object, joined with spaces when it is an argument list.
    /// </summary>
    internal static string? CommandOf(string? input)
    {
        if (string.IsNullOrWhiteSpace(input))
            return null;
        var trimmed = input.Trim();
        if (!trimmed.StartsWith('{'))
            return trimmed;
        try
        {
            using var document = JsonDocument.Parse(trimmed);
            foreach (var name in (string[])["command", "cmd"])
            {
                if (!document.RootElement.TryGetProperty(name, out var value))
                    continue;
                if (value.ValueKind == JsonValueKind.String)
                    return value.GetString();
                if (value.ValueKind == JsonValueKind.Array)
                    return string.Join(' ', value.EnumerateArray().Select(a => a.ValueKind == JsonValueKind.String ? a.GetString() : a.GetRawText()));
            }
            return trimmed;
        }
        catch (JsonException)
        {
            // Truncated by the runtime, or not JSON after all: the text is still the best account of the command.
            return trimmed;
        }
    }
}
