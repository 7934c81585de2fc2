using System.Text;
using System.Text.Json;

using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Workers.Agents.Runtimes.Cli;

/// <summary>
/// The <c>claude-code</c> runtime: <c>claude -p --output-format stream-json --verbose</c>. Settings: <c>model</c>,
/// <c>permissionMode</c>, <c>maxTurns</c>, <c>allowedTools</c>, <c>disallowedTools</c>, <c>appendSystemPrompt</c>,
/// <c>extraArgs</c>, <c>env</c>, <c>command</c> (see <c>docs/cli-runtimes.md</c>).
/// </summary>
public sealed class ClaudeCodeRuntime : CliRuntime
{
    public ClaudeCodeRuntime(IOptionsMonitor<CliRuntimeOptions> options, TimeProvider timeProvider, ILogger<ClaudeCodeRuntime> logger)
        : base(ClaudeCodeDialect.Instance, (options ?? throw new ArgumentNullException(nameof(options))).Get(RuntimeNames.ClaudeCode), CliEnvironment.Process, timeProvider, logger)
    {
    }

    internal ClaudeCodeRuntime(CliRuntimeOptions options, CliEnvironment environment)
        : base(ClaudeCodeDialect.Instance, options, environment, TimeProvider.System, NullLogger.Instance)
    {
    }
}

internal sealed class ClaudeCodeDialect : CliDialect
{
    public const string PermissionModeField = "permissionMode";
    public const string AllowedToolsField = "allowedTools";
    public const string DisallowedToolsField = "disallowedTools";
    public const string AppendSystemPromptField = "appendSystemPrompt";

    public static ClaudeCodeDialect Instance { get; } = new();

    public override string Runtime => RuntimeNames.ClaudeCode;

    public override string DisplayName => "Claude Code";

    public override string OptionsSection => "Workers:Runtimes:ClaudeCode";

    public override IReadOnlyList<string> DefaultCommands { get; } = ["claude"];

    public override string InstallHint => "curl -fsSL https://claude.ai/install.sh | bash";

    public override string InstallUrl => "https://code.claude.com/docs/en/setup";

    public override string AuthUrl => "https://docs.claude.com/en/docs/claude-code/headless";

    public override IReadOnlyList<CliSetting> Settings { get; } =
    [
        new(PermissionModeField, CliSettingKind.Choice, "acceptEdits", ["default", "manual", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto"]),
        new(CliSettings.MaxTurnsField, CliSettingKind.PositiveInteger, "20"),
        new(AllowedToolsField, CliSettingKind.List, "[Read, Edit, \"Bash(git *)\"]"),
        new(DisallowedToolsField, CliSettingKind.List, "[WebFetch]"),
        new(AppendSystemPromptField, CliSettingKind.Text, "\"Keep changes minimal.\""),
    ];

    public override IReadOnlyList<string> BuildArguments(CliSettings settings, AgentInvocation invocation)
    {
        // stream-json output in print mode requires --verbose, or the CLI exits 1 before doing anything.
        List<string> arguments = ["-p", "--output-format", "stream-json", "--verbose"];
        if (settings.Model is { } model)
        {
            arguments.AddRange(["--model", model]);
        }

        if (settings.Text(PermissionModeField) is { } mode)
        {
            arguments.AddRange(["--permission-mode", mode]);
        }

        if (settings.Integer(CliSettings.MaxTurnsField) is { } maxTurns)
        {
            arguments.AddRange(["--max-turns", maxTurns.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }

        if (settings.List(AllowedToolsField) is { Count: > 0 } allowed)
        {
            arguments.AddRange(["--allowedTools", string.Join(',', allowed)]);
        }

        if (settings.List(DisallowedToolsField) is { Count: > 0 } disallowed)
        {
            arguments.AddRange(["--disallowedTools", string.Join(',', disallowed)]);
        }

        if (settings.Text(AppendSystemPromptField) is { } systemPrompt)
        {
            arguments.AddRange(["--append-system-prompt", systemPrompt]);
        }

        arguments.AddRange(settings.ExtraArgs);
        AddPositionalPrompt(arguments, invocation.Input);
        return arguments;
    }

    public override async ValueTask<string?> FindCredentialsProblemAsync(CliEnvironment environment, string executable, CliProbe probe, CancellationToken cancellationToken)
    {
        if (environment.FirstSet("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_AUTH_TOKEN") is not null
            || environment.IsTrue("CLAUDE_CODE_USE_BEDROCK") || environment.IsTrue("CLAUDE_CODE_USE_VERTEX") || environment.IsTrue("CLAUDE_CODE_USE_FOUNDRY"))
        {
            return null;
        }

        // `claude auth status` (2.1.41+) prints JSON with loggedIn; its exit code is unconfirmed, so only loggedIn:true counts.
        var status = await probe(executable, ["auth", "status"], cancellationToken).ConfigureAwait(false);
        if (status is not null && LoggedIn(status.Stdout))
        {
            return null;
        }

        return "set ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN (from `claude setup-token`), or CLAUDE_CODE_USE_BEDROCK / CLAUDE_CODE_USE_VERTEX / CLAUDE_CODE_USE_FOUNDRY, "
            + "or log in with `claude auth login` as the worker's user (`claude auth status` did not report loggedIn: true).";
    }

    private static bool LoggedIn(string statusOutput)
    {
        var start = statusOutput.IndexOf('{', StringComparison.Ordinal);
        var end = statusOutput.LastIndexOf('}');
        if (start < 0 || end <= start)
        {
            return false;
        }

        try
        {
            using var document = JsonDocument.Parse(statusOutput.AsMemory(start, end - start + 1));
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("loggedIn", out var loggedIn)
                && loggedIn.ValueKind == JsonValueKind.True;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    public override CliStream CreateStream(IAgentEventSink events) => new ClaudeCodeStream(events);
}

/// <summary>Claude Code's stream-json: <c>system</c>, <c>assistant</c>, <c>user</c> (tool results), <c>result</c>.</summary>
internal sealed class ClaudeCodeStream(IAgentEventSink events) : CliStream(events)
{
    private readonly HashSet<string> _messageIds = new(StringComparer.Ordinal);
    private string _lastText = "";

    public override string PartialOutput => _lastText;

    protected override void Handle(JsonElement root, string type)
    {
        switch (type)
        {
            case "assistant":
                OnAssistant(root);
                break;
            case "user":
                OnUser(root);
                break;
            case "result":
                OnResult(root);
                break;
            default:
                // system (init repeats per turn in some modes), stream_event, rate_limit_event, ... carry nothing we map.
                break;
        }
    }

    private void OnAssistant(JsonElement root)
    {
        if (Object(root, "message") is not { } message)
        {
            return;
        }

        if (String(message, "id") is { } id)
        {
            _messageIds.Add(id);
        }

        var text = new StringBuilder();
        foreach (var block in Array(message, "content"))
        {
            switch (String(block, "type"))
            {
                case "text":
                    text.Append(String(block, "text"));
                    break;
                case "tool_use" or "server_tool_use":
                    ToolStarted(String(block, "name") ?? "tool", Text(block, "input"), String(block, "id"));
                    break;
                default:
                    break;
            }
        }

        if (text.Length > 0)
        {
            _lastText = text.ToString();
            Message(_lastText);
        }
    }

    private void OnUser(JsonElement root)
    {
        if (Object(root, "message") is not { } message)
        {
            return;
        }

        foreach (var block in Array(message, "content"))
        {
            if (String(block, "type") == "tool_result")
            {
                ToolCompleted(null, ResultText(block), Boolean(block, "is_error"), String(block, "tool_use_id"));
            }
        }
    }

    /// <summary>A tool result's content: a string, or a list of blocks whose text parts are joined.</summary>
    private static string? ResultText(JsonElement block)
    {
        if (Property(block, "content") is not { } content)
        {
            return null;
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            return AsText(content);
        }

        var text = new StringBuilder();
        foreach (var part in content.EnumerateArray())
        {
            if (String(part, "text") is { } partText)
            {
                text.Append(text.Length > 0 ? "\n" : "").Append(partText);
            }
        }

        return text.ToString();
    }

    private void OnResult(JsonElement root)
    {
        // The final usage is the run's total; per-message usage is provisional and repeats, so only this one is reported.
        var turns = (int)Math.Min(int.MaxValue, Long(root, "num_turns"));
        var steps = turns > 0 ? turns : _messageIds.Count;
        var cost = Decimal(root, "total_cost_usd");
        if (Object(root, "usage") is { } usage)
        {
            var input = Long(usage, "input_tokens") + Long(usage, "cache_creation_input_tokens") + Long(usage, "cache_read_input_tokens");
            Usage(steps, input, Long(usage, "output_tokens"), cost);
        }
        else
        {
            Usage(steps, 0, 0, cost);
        }

        var subtype = String(root, "subtype") ?? "";
        var text = String(root, "result") ?? "";
        if (subtype == "success" && !Boolean(root, "is_error"))
        {
            Terminal = CliTerminal.Success(text);
            return;
        }

        var errors = string.Join("; ", Array(root, "errors").Select(AsText).Where(e => e.Length > 0));
        var detail = text.Length > 0 ? text : errors.Length > 0 ? errors : $"result '{subtype}'";
        Terminal = subtype switch
        {
            "error_max_turns" => CliTerminal.Failure($"Claude Code reached its turn limit (maxTurns): {detail}", CliFailureKinds.MaxTurns, retryable: false, text),
            "error_max_budget_usd" => CliTerminal.Failure($"Claude Code reached its budget: {detail}", CliFailureKinds.Budget, retryable: false, text),
            "error_during_execution" => CliTerminal.Failure($"Claude Code failed during execution: {detail}", CliFailureKinds.AgentError, retryable: true, text),
            "success" => ApiError(root, detail),
            _ => CliTerminal.Failure($"Claude Code reported an error ({subtype}): {detail}", CliFailureKinds.AgentError, retryable: true, text),
        };
    }

    /// <summary>An API failure arrives as subtype success with is_error; 4xx other than 408/429 will fail again the same way.</summary>
    private static CliTerminal ApiError(JsonElement root, string detail)
    {
        var status = Property(root, "api_error_status") is { ValueKind: JsonValueKind.Number } value && value.TryGetInt32(out var code) ? code : 0;
        var clientError = status is >= 400 and < 500 and not (408 or 429);
        var kind = status is 401 or 403 ? CliFailureKinds.Auth : CliFailureKinds.Api;
        var where = status == 0 ? "" : $" (status {status})";
        return CliTerminal.Failure($"Claude Code reported an API error{where}: {detail}", kind, !clientError);
    }
}
