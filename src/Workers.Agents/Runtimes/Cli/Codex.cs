using System.Text;
using System.Text.Json;

using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Workers.Agents.Runtimes.Cli;

/// <summary>
/// The <c>codex</c> runtime: <c>codex exec --json --skip-git-repo-check -C &lt;workspace&gt;</c>. Settings: <c>model</c>,
/// <c>sandbox</c>, <c>config</c> (<c>-c key=value</c>), <c>extraArgs</c>, <c>env</c>, <c>command</c> (see <c>docs/cli-runtimes.md</c>).
/// </summary>
public sealed class CodexRuntime : CliRuntime
{
    public CodexRuntime(IOptionsMonitor<CliRuntimeOptions> options, TimeProvider timeProvider, ILogger<CodexRuntime> logger)
        : base(CodexDialect.Instance, (options ?? throw new ArgumentNullException(nameof(options))).Get(RuntimeNames.Codex), CliEnvironment.Process, timeProvider, logger)
    {
    }

    internal CodexRuntime(CliRuntimeOptions options, CliEnvironment environment)
        : base(CodexDialect.Instance, options, environment, TimeProvider.System, NullLogger.Instance)
    {
    }
}

internal sealed class CodexDialect : CliDialect
{
    public const string SandboxField = "sandbox";
    public const string ConfigField = "config";

    public static CodexDialect Instance { get; } = new();

    public override string Runtime => RuntimeNames.Codex;

    public override string DisplayName => "Codex";

    public override string OptionsSection => "Workers:Runtimes:Codex";

    public override IReadOnlyList<string> DefaultCommands { get; } = ["codex"];

    public override string InstallHint => "npm install -g @openai/codex";

    public override string InstallUrl => "https://developers.openai.com/codex/noninteractive";

    public override string AuthUrl => "https://developers.openai.com/codex/noninteractive";

    public override IReadOnlyList<CliSetting> Settings { get; } =
    [
        new(SandboxField, CliSettingKind.Choice, "workspace-write", ["read-only", "workspace-write", "danger-full-access"]),
        new(ConfigField, CliSettingKind.Map, "{ model_reasoning_effort: high }"),
    ];

    public override IReadOnlyDictionary<string, string> Unsupported { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [CliSettings.MaxTurnsField] = "is not supported: codex exec has no turn limit (it runs one turn); leave it out",
        ["permissionMode"] = "is not a codex setting: codex exec never asks for approval; use 'sandbox' (read-only, workspace-write, danger-full-access)",
    };

    public override IReadOnlyList<string> BuildArguments(CliSettings settings, AgentInvocation invocation)
    {
        // Attempt workspaces need not be git repositories: without --skip-git-repo-check codex exec refuses to start there.
        List<string> arguments = ["exec", "--json", "--skip-git-repo-check", "-C", invocation.WorkspaceDirectory];
        if (settings.Model is { } model)
        {
            arguments.AddRange(["-m", model]);
        }

        if (settings.Text(SandboxField) is { } sandbox)
        {
            arguments.AddRange(["--sandbox", sandbox]);
        }

        foreach (var (key, value) in settings.Map(ConfigField))
        {
            arguments.AddRange(["-c", $"{key}={value}"]);
        }

        arguments.AddRange(settings.ExtraArgs);
        AddPositionalPrompt(arguments, invocation.Input);
        return arguments;
    }

    public override ValueTask<string?> FindCredentialsProblemAsync(CliEnvironment environment, string executable, CliProbe probe, CancellationToken cancellationToken)
    {
        if (environment.Get("CODEX_API_KEY") is not null)
        {
            return ValueTask.FromResult<string?>(null);
        }

        // `codex login` saves credentials in $CODEX_HOME/auth.json; their presence is enough (expiry shows up as a run failure).
        var home = environment.Get("CODEX_HOME") ?? Path.Combine(environment.Home, ".codex");
        var authFile = Path.Combine(home, "auth.json");
        return ValueTask.FromResult(File.Exists(authFile)
            ? null
            : $"set CODEX_API_KEY, or log in with `codex login` as the worker's user (no {authFile}). OPENAI_API_KEY alone is not used by codex exec.");
    }

    public override CliStream CreateStream(IAgentEventSink events) => new CodexStream(events);
}

/// <summary>Codex's exec JSONL: <c>thread.*</c>, <c>turn.*</c>, <c>item.*</c>, <c>error</c>.</summary>
internal sealed class CodexStream(IAgentEventSink events) : CliStream(events)
{
    private string _lastMessage = "";
    private long _inputTokens;
    private long _outputTokens;

    public override string PartialOutput => _lastMessage;

    protected override void Handle(JsonElement root, string type)
    {
        switch (type)
        {
            case "item.started":
                OnItem(root, completed: false);
                break;
            case "item.completed":
                OnItem(root, completed: true);
                break;
            case "turn.completed":
                OnUsage(root);
                Terminal = CliTerminal.Success(_lastMessage);
                break;
            case "turn.failed":
                var message = Object(root, "error") is { } error ? String(error, "message") : null;
                Terminal = CliTerminal.Failure($"Codex's turn failed: {message ?? "no message"}", CliFailureKinds.AgentError, retryable: true, _lastMessage);
                break;
            case "error":
                // Stream-level errors include ones codex retries itself: a warning, not the end.
                Events.Emit(new AgentEvent.Log($"codex error: {String(root, "message")}"));
                break;
            default:
                // thread.started, turn.started, item.updated, item.plan.delta, request_user_input, ...
                break;
        }
    }

    /// <summary>
    /// turn.completed carries the thread's token totals, so each report is turned into the increase since the last one
    /// (one per exec today; a resumed thread's totals are unconfirmed).
    /// </summary>
    private void OnUsage(JsonElement root)
    {
        if (Object(root, "usage") is not { } usage)
        {
            Usage(1, 0, 0, 0);
            return;
        }

        var input = Long(usage, "input_tokens");
        var output = Long(usage, "output_tokens");
        Usage(1, Math.Max(0, input - _inputTokens), Math.Max(0, output - _outputTokens), 0);
        _inputTokens = Math.Max(_inputTokens, input);
        _outputTokens = Math.Max(_outputTokens, output);
    }

    private void OnItem(JsonElement root, bool completed)
    {
        if (Object(root, "item") is not { } item)
        {
            return;
        }

        // Older builds name the field item_type and the message type assistant_message.
        var itemType = String(item, "type") ?? String(item, "item_type");
        var id = String(item, "id");
        switch (itemType)
        {
            case "agent_message" or "assistant_message" when completed:
                _lastMessage = String(item, "text") ?? "";
                Message(_lastMessage);
                break;

            case "command_execution":
                Tool(completed, "command", id, String(item, "command"), () => String(item, "aggregated_output"),
                    () => String(item, "status") is "failed" or "declined" || Long(item, "exit_code") != 0);
                break;

            case "file_change":
                Tool(completed, "file_change", id, Changes(item), () => Changes(item), () => String(item, "status") is "failed");
                break;

            case "mcp_tool_call":
                var name = $"{String(item, "server") ?? "mcp"}.{String(item, "tool") ?? "tool"}";
                Tool(completed, name, id, Text(item, "arguments"), () => McpOutput(item),
                    () => Object(item, "error") is not null || String(item, "status") is "failed");
                break;

            case "web_search":
                Tool(completed, "web_search", id, String(item, "query"), () => null, () => false);
                break;

            case "collab_tool_call":
                Tool(completed, "collab_tool_call", id, null, () => null, () => String(item, "status") is "failed");
                break;

            case "error" when completed:
                Events.Emit(new AgentEvent.Log($"codex warning: {String(item, "message")}"));
                break;

            default:
                // reasoning, todo_list, plan, and types added later.
                break;
        }
    }

    private void Tool(bool completed, string name, string? id, string? input, Func<string?> output, Func<bool> failed)
    {
        if (!completed)
        {
            ToolStarted(name, input, id);
            return;
        }

        // Older builds emit only the completed item for some kinds: synthesize the start.
        if (!HasStarted(id))
        {
            ToolStarted(name, input, id);
        }

        ToolCompleted(name, output(), failed(), id);
    }

    private static string Changes(JsonElement item)
    {
        var text = new StringBuilder();
        foreach (var change in Array(item, "changes"))
        {
            text.Append(text.Length > 0 ? "\n" : "").Append(String(change, "kind") ?? "change").Append(' ').Append(String(change, "path"));
        }

        return text.ToString();
    }

    private static string? McpOutput(JsonElement item)
    {
        if (Object(item, "error") is { } error)
        {
            return String(error, "message") ?? error.GetRawText();
        }

        return Object(item, "result") is { } result ? Text(result, "content") ?? result.GetRawText() : null;
    }
}
