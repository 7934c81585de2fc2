using System.Text;
using System.Text.Json;

using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Workers.Agents.Runtimes.Cli;

/// <summary>
/// The <c>cursor</c> runtime: <c>cursor-agent -p --output-format stream-json --workspace &lt;workspace&gt;</c>. Settings:
/// <c>model</c>, <c>mode</c>, <c>force</c>, <c>sandbox</c>, <c>trust</c>, <c>extraArgs</c>, <c>env</c>, <c>command</c>
/// (see <c>docs/cli-runtimes.md</c>).
/// </summary>
public sealed class CursorRuntime : CliRuntime
{
    public CursorRuntime(IOptionsMonitor<CliRuntimeOptions> options, TimeProvider timeProvider, ILogger<CursorRuntime> logger)
        : base(CursorDialect.Instance, (options ?? throw new ArgumentNullException(nameof(options))).Get(RuntimeNames.Cursor), CliEnvironment.Process, timeProvider, logger)
    {
    }

    internal CursorRuntime(CliRuntimeOptions options, CliEnvironment environment)
        : base(CursorDialect.Instance, options, environment, TimeProvider.System, NullLogger.Instance)
    {
    }
}

internal sealed class CursorDialect : CliDialect
{
    public const string ModeField = "mode";
    public const string ForceField = "force";
    public const string SandboxField = "sandbox";
    public const string TrustField = "trust";

    public static CursorDialect Instance { get; } = new();

    public override string Runtime => RuntimeNames.Cursor;

    public override string DisplayName => "Cursor";

    public override string OptionsSection => "Workers:Runtimes:Cursor";

    /// <summary><c>agent</c> is the current name but too generic to trust on PATH; <c>cursor-agent</c> is the installer's other name.</summary>
    public override IReadOnlyList<string> DefaultCommands { get; } = ["cursor-agent"];

    public override string InstallHint => "curl https://cursor.com/install -fsS | bash";

    public override string InstallUrl => "https://cursor.com/docs/cli/installation";

    public override string AuthUrl => "https://cursor.com/docs/cli/reference/authentication";

    public override IReadOnlyList<CliSetting> Settings { get; } =
    [
        new(ModeField, CliSettingKind.Choice, "plan", ["plan", "ask"]),
        new(ForceField, CliSettingKind.Flag, "true"),
        new(SandboxField, CliSettingKind.Choice, "enabled", ["enabled", "disabled"]),
        new(TrustField, CliSettingKind.Flag, "true"),
    ];

    public override IReadOnlyDictionary<string, string> Unsupported { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [CliSettings.MaxTurnsField] = "is not supported: the cursor CLI has no turn-limit flag; leave it out",
        ["permissionMode"] = "is not a cursor setting; use 'force: true' to allow commands, or 'mode' (plan, ask) to forbid edits",
    };

    public override IReadOnlyList<string> BuildArguments(CliSettings settings, AgentInvocation invocation)
    {
        List<string> arguments = ["-p", "--output-format", "stream-json", "--workspace", invocation.WorkspaceDirectory];
        if (settings.Model is { } model)
        {
            arguments.AddRange(["--model", model]);
        }

        if (settings.Text(ModeField) is { } mode)
        {
            arguments.AddRange(["--mode", mode]);
        }

        if (settings.Flag(ForceField))
        {
            arguments.Add("--force");
        }

        if (settings.Text(SandboxField) is { } sandbox)
        {
            arguments.AddRange(["--sandbox", sandbox]);
        }

        if (settings.Flag(TrustField))
        {
            arguments.Add("--trust");
        }

        arguments.AddRange(settings.ExtraArgs);
        AddPositionalPrompt(arguments, invocation.Input);
        return arguments;
    }

    public override async ValueTask<string?> FindCredentialsProblemAsync(CliEnvironment environment, string executable, CliProbe probe, CancellationToken cancellationToken)
    {
        if (environment.Get("CURSOR_API_KEY") is not null)
        {
            return null;
        }

        // `status`'s exit code and wording are unconfirmed: only a zero exit that says "logged in" (and not "not logged in") counts.
        var status = await probe(executable, ["status"], cancellationToken).ConfigureAwait(false);
        if (status is { ExitCode: 0 } && LoggedIn(status.Stdout + "\n" + status.Stderr))
        {
            return null;
        }

        return "set CURSOR_API_KEY, or log in with `cursor-agent login` as the worker's user (`cursor-agent status` did not report a login).";
    }

    private static bool LoggedIn(string text) =>
        text.Contains("logged in", StringComparison.OrdinalIgnoreCase)
        && !text.Contains("not logged in", StringComparison.OrdinalIgnoreCase);

    public override CliStream CreateStream(IAgentEventSink events) => new CursorStream(events);
}

/// <summary>Cursor's stream-json: <c>system</c>, <c>user</c>, <c>assistant</c>, <c>tool_call</c> (started/completed), <c>result</c>.</summary>
internal sealed class CursorStream(IAgentEventSink events) : CliStream(events)
{
    private string _lastMessage = "";
    private int _steps;
    private bool _inStep;

    public override string PartialOutput => _lastMessage;

    protected override void Handle(JsonElement root, string type)
    {
        switch (type)
        {
            case "assistant":
                OnAssistant(root);
                break;
            case "tool_call":
                OnToolCall(root);
                break;
            case "result":
                OnResult(root);
                break;
            default:
                // system/init, user (the prompt echoed), thinking, and types added later.
                break;
        }
    }

    private void OnAssistant(JsonElement root)
    {
        if (Object(root, "message") is not { } message)
        {
            return;
        }

        var text = new StringBuilder();
        if (Property(message, "content") is { ValueKind: JsonValueKind.String } plain)
        {
            text.Append(plain.GetString());
        }

        foreach (var block in Array(message, "content"))
        {
            if (String(block, "type") == "text")
            {
                text.Append(String(block, "text"));
            }
        }

        if (text.Length == 0)
        {
            return;
        }

        if (!_inStep)
        {
            _inStep = true;
            _steps++;
        }

        _lastMessage = text.ToString();
        Message(_lastMessage);
    }

    private void OnToolCall(JsonElement root)
    {
        var callId = String(root, "call_id");
        if (Object(root, "tool_call") is not { } call)
        {
            return;
        }

        // tool_call is {"<kind>ToolCall": {args, result?}} or {"function": {name, arguments}}.
        var (name, body) = call.EnumerateObject().Select(p => (p.Name, p.Value)).FirstOrDefault();
        if (name is null)
        {
            return;
        }

        var tool = name == "function" ? String(body, "name") ?? "function" : name;
        var input = Text(body, "args") ?? Text(body, "arguments");
        switch (String(root, "subtype"))
        {
            case "started":
                ToolStarted(tool, input, callId);
                break;

            case "completed":
                _inStep = false;
                if (!HasStarted(callId))
                {
                    ToolStarted(tool, input, callId);
                }

                var result = Property(body, "result");
                var success = result is { ValueKind: JsonValueKind.Object } r && Property(r, "success") is not null;
                var output = result is not { ValueKind: JsonValueKind.Object } shaped
                    ? null
                    : success ? Text(shaped, "success") : Text(shaped, "error") ?? shaped.GetRawText();

                // The failure shape is unconfirmed: anything but result.success counts as an error.
                ToolCompleted(tool, output, !success, callId);
                break;

            default:
                break;
        }
    }

    private void OnResult(JsonElement root)
    {
        // result.usage is unconfirmed (third-party captures); read camelCase and snake_case names, report whatever is there.
        var usage = Object(root, "usage");
        long Tokens(string camel, string snake) => usage is { } u ? Math.Max(Long(u, camel), Long(u, snake)) : 0;
        Usage(Math.Max(_steps, 1), Tokens("inputTokens", "input_tokens"), Tokens("outputTokens", "output_tokens"), 0);

        var text = String(root, "result") ?? "";
        var subtype = String(root, "subtype") ?? "";
        Terminal = subtype == "success" && !Boolean(root, "is_error")
            ? CliTerminal.Success(text)
            : CliTerminal.Failure(
                $"Cursor reported an error ({(subtype.Length > 0 ? subtype : "no subtype")}): {(text.Length > 0 ? text : "no message")}",
                CliFailureKinds.AgentError,
                retryable: true,
                text);
    }
}
