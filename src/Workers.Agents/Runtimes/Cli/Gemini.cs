using System.Text;
using System.Text.Json;

using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Workers.Agents.Runtimes.Cli;

/// <summary>
/// The <c>gemini</c> runtime: <c>gemini --output-format stream-json -p &lt;task&gt;</c>. Settings: <c>model</c>,
/// <c>approvalMode</c>, <c>extraArgs</c>, <c>env</c>, <c>command</c> (see <c>docs/cli-runtimes.md</c>).
/// </summary>
public sealed class GeminiRuntime : CliRuntime
{
    public GeminiRuntime(IOptionsMonitor<CliRuntimeOptions> options, TimeProvider timeProvider, ILogger<GeminiRuntime> logger)
        : base(GeminiDialect.Instance, (options ?? throw new ArgumentNullException(nameof(options))).Get(RuntimeNames.Gemini), CliEnvironment.Process, timeProvider, logger)
    {
    }

    internal GeminiRuntime(CliRuntimeOptions options, CliEnvironment environment)
        : base(GeminiDialect.Instance, options, environment, TimeProvider.System, NullLogger.Instance)
    {
    }
}

internal sealed class GeminiDialect : CliDialect
{
    public const string ApprovalModeField = "approvalMode";

    public static GeminiDialect Instance { get; } = new();

    public override string Runtime => RuntimeNames.Gemini;

    public override string DisplayName => "Gemini";

    public override string OptionsSection => "Workers:Runtimes:Gemini";

    public override IReadOnlyList<string> DefaultCommands { get; } = ["gemini"];

    public override string InstallHint => "npm install -g @google/gemini-cli";

    public override string InstallUrl => "https://geminicli.com/docs/get-started/installation";

    public override string AuthUrl => "https://geminicli.com/docs/cli/headless";

    public override IReadOnlyList<CliSetting> Settings { get; } =
    [
        new(ApprovalModeField, CliSettingKind.Choice, "auto_edit", ["default", "auto_edit", "yolo", "plan"]),
    ];

    public override IReadOnlyDictionary<string, string> Unsupported { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [CliSettings.MaxTurnsField] = "is not supported: the gemini CLI has no turn-limit flag; set the limit in Gemini's own settings file",
        ["permissionMode"] = "is not a gemini setting; use 'approvalMode' (default, auto_edit, yolo, plan)",
    };

    /// <summary>Each attempt's workspace is new, so folder trust would refuse it (exit 55); the variable is ignored where unknown.</summary>
    public override IReadOnlyDictionary<string, string> DefaultEnvironment { get; } =
        new Dictionary<string, string>(StringComparer.Ordinal) { ["GEMINI_CLI_TRUST_WORKSPACE"] = "true" };

    public override IReadOnlyList<string> BuildArguments(CliSettings settings, AgentInvocation invocation)
    {
        List<string> arguments = ["--output-format", "stream-json"];
        if (settings.Model is { } model)
        {
            arguments.AddRange(["-m", model]);
        }

        if (settings.Text(ApprovalModeField) is { } mode)
        {
            arguments.AddRange(["--approval-mode", mode]);
        }

        arguments.AddRange(settings.ExtraArgs);

        // -p takes the prompt as its value; a prompt starting with '-' would be read as another option, so it is attached.
        arguments.AddRange(invocation.Input.StartsWith('-') ? [$"--prompt={invocation.Input}"] : ["-p", invocation.Input]);
        return arguments;
    }

    public override ValueTask<string?> FindCredentialsProblemAsync(CliEnvironment environment, string executable, CliProbe probe, CancellationToken cancellationToken)
    {
        if (environment.IsTrue("GOOGLE_GENAI_USE_VERTEXAI")
            && environment.Get("GOOGLE_API_KEY") is null
            && (environment.Get("GOOGLE_CLOUD_PROJECT") is null || environment.Get("GOOGLE_CLOUD_LOCATION") is null))
        {
            return ValueTask.FromResult<string?>(
                "GOOGLE_GENAI_USE_VERTEXAI is set but Vertex AI also needs GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION, or GOOGLE_API_KEY.");
        }

        if (environment.IsTrue("GOOGLE_GENAI_USE_GCA") || environment.IsTrue("GOOGLE_GENAI_USE_VERTEXAI")
            || environment.FirstSet("GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL") is not null
            || environment.IsTrue("GEMINI_CLI_USE_COMPUTE_ADC") || environment.IsTrue("CLOUD_SHELL"))
        {
            return ValueTask.FromResult<string?>(null);
        }

        var settingsFile = Path.Combine(environment.Home, ".gemini", "settings.json");
        return ValueTask.FromResult(HasSelectedAuth(settingsFile)
            ? null
            : $"set GEMINI_API_KEY, GOOGLE_GENAI_USE_VERTEXAI=true (with GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION) or GOOGLE_GENAI_USE_GCA=true, "
                + $"or choose an auth method in {settingsFile} (security.auth.selectedType) by logging in with `gemini` as the worker's user.");
    }

    /// <summary>
    /// The settings file's chosen auth type (<c>security.auth.selectedType</c>, or the older top-level <c>selectedAuthType</c>).
    /// The path and shape are unconfirmed, so anything unreadable counts as "not configured".
    /// </summary>
    private static bool HasSelectedAuth(string settingsFile)
    {
        try
        {
            if (!File.Exists(settingsFile))
            {
                return false;
            }

            using var document = JsonDocument.Parse(File.ReadAllText(settingsFile), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            var root = document.RootElement;
            return IsSet(Walk(root, "security", "auth", "selectedType")) || IsSet(Walk(root, "selectedAuthType"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            return false;
        }

        static JsonElement? Walk(JsonElement element, params string[] path)
        {
            foreach (var name in path)
            {
                if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out element))
                {
                    return null;
                }
            }

            return element;
        }

        static bool IsSet(JsonElement? value) => value is { ValueKind: JsonValueKind.String } text && !string.IsNullOrWhiteSpace(text.GetString());
    }

    /// <summary>The documented exit codes, for runs that end without a result line (e.g. auth fails before the stream starts).</summary>
    public override CliTerminal? DescribeExitCode(int exitCode) => exitCode switch
    {
        41 => CliTerminal.Failure("Gemini exited with code 41 (authentication failed).", CliFailureKinds.Auth, retryable: false),
        42 => CliTerminal.Failure("Gemini exited with code 42 (invalid input).", CliFailureKinds.Config, retryable: false),
        44 => CliTerminal.Failure("Gemini exited with code 44 (sandbox error).", CliFailureKinds.Config, retryable: false),
        52 => CliTerminal.Failure("Gemini exited with code 52 (configuration error).", CliFailureKinds.Config, retryable: false),
        53 => CliTerminal.Failure("Gemini exited with code 53 (turn limit reached).", CliFailureKinds.MaxTurns, retryable: false),
        54 => CliTerminal.Failure("Gemini exited with code 54 (fatal tool error).", CliFailureKinds.AgentError, retryable: true),
        55 => CliTerminal.Failure("Gemini exited with code 55 (untrusted workspace).", CliFailureKinds.Config, retryable: false),
        _ => null,
    };

    public override CliStream CreateStream(IAgentEventSink events) => new GeminiStream(events);
}

/// <summary>Gemini's stream-json: <c>init</c>, <c>message</c> (assistant text in delta chunks), <c>tool_use</c>, <c>tool_result</c>, <c>error</c>, <c>result</c>.</summary>
internal sealed class GeminiStream(IAgentEventSink events) : CliStream(events)
{
    private readonly StringBuilder _pending = new();
    private string _lastMessage = "";
    private int _steps;
    private bool _inStep;

    public override string PartialOutput => _pending.Length > 0 ? _pending.ToString() : _lastMessage;

    public override void Complete() => Flush();

    protected override void Handle(JsonElement root, string type)
    {
        switch (type)
        {
            case "message" when String(root, "role") == "assistant":
                if (!_inStep)
                {
                    // A step: the first assistant text after the start or after a batch of tool results.
                    _inStep = true;
                    _steps++;
                }

                if (!Boolean(root, "delta"))
                {
                    Flush();
                }

                _pending.Append(Text(root, "content"));
                if (!Boolean(root, "delta"))
                {
                    Flush();
                }

                break;

            case "tool_use":
                Flush();
                ToolStarted(String(root, "tool_name") ?? "tool", Text(root, "parameters"), String(root, "tool_id"));
                break;

            case "tool_result":
                Flush();
                _inStep = false;
                var failed = String(root, "status") == "error";
                var output = failed && Object(root, "error") is { } error ? String(error, "message") ?? error.GetRawText() : Text(root, "output");
                ToolCompleted(null, output, failed, String(root, "tool_id"));
                break;

            case "error":
                // Non-fatal by definition (loop detected, max turns, blocked...): the result decides.
                Events.Emit(new AgentEvent.Log($"gemini {String(root, "severity") ?? "error"}: {String(root, "message")}"));
                break;

            case "result":
                Flush();
                OnResult(root);
                break;

            default:
                break;
        }
    }

    private void Flush()
    {
        if (_pending.Length == 0)
        {
            return;
        }

        _lastMessage = _pending.ToString();
        _pending.Clear();
        Message(_lastMessage);
    }

    private void OnResult(JsonElement root)
    {
        if (Object(root, "stats") is { } stats)
        {
            Usage(Math.Max(_steps, 1), Long(stats, "input_tokens"), Long(stats, "output_tokens"), 0);
        }

        if (String(root, "status") == "success")
        {
            Terminal = CliTerminal.Success(_lastMessage);
            return;
        }

        var error = Object(root, "error");
        var errorType = error is { } e ? String(e, "type") ?? "" : "";
        var message = error is { } m ? String(m, "message") ?? "" : "";
        var detail = $"{(errorType.Length > 0 ? errorType + ": " : "")}{(message.Length > 0 ? message : "no message")}";
        Terminal = errorType switch
        {
            "FatalTurnLimitedError" => CliTerminal.Failure($"Gemini reached its turn limit: {detail}", CliFailureKinds.MaxTurns, retryable: false, _lastMessage),
            "FatalAuthenticationError" => CliTerminal.Failure($"Gemini could not authenticate: {detail}", CliFailureKinds.Auth, retryable: false, _lastMessage),
            "FatalInputError" or "FatalSandboxError" or "FatalConfigError" or "FatalUntrustedWorkspaceError" =>
                CliTerminal.Failure($"Gemini rejected its configuration or input: {detail}", CliFailureKinds.Config, retryable: false, _lastMessage),
            _ => CliTerminal.Failure($"Gemini reported an error: {detail}", CliFailureKinds.AgentError, retryable: true, _lastMessage),
        };
    }
}
