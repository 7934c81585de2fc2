using System.Globalization;
using System.Text.Json;

using Workers.Agents.Runtimes.Native.Tools;

namespace Workers.Agents.Runtimes.Native;

/// <summary>The model provider kinds the native runtime speaks to.</summary>
internal enum ProviderKind
{
    /// <summary>The chat completions API of OpenAI and every compatible server (vLLM, Ollama, llama.cpp, OpenRouter, Azure).</summary>
    OpenAI,

    /// <summary>Anthropic's messages API.</summary>
    Anthropic,
}

/// <summary>Where an agent's API key comes from; exactly one of the three is set.</summary>
internal sealed record ApiKeySource(string? Literal, string? Variable, string? File);

/// <summary>An MCP server an agent uses: a command started over stdio, or an HTTP endpoint.</summary>
internal sealed record McpServerSettings(
    string Name,
    string? Command,
    IReadOnlyList<string> Args,
    IReadOnlyDictionary<string, string> Env,
    Uri? Url);

/// <summary>
/// The <c>native:</c> section of an agent definition. Parsed by the catalog to validate (errors carry file, field and line)
/// and by the runtime to run.
/// </summary>
internal sealed record NativeSettings(
    ProviderKind Provider,
    Uri BaseUrl,
    string Model,
    ApiKeySource ApiKey,
    string? SystemPrompt,
    IReadOnlyList<string> Tools,
    IReadOnlyList<McpServerSettings> McpServers,
    int MaxSteps,
    long? MaxTokens,
    decimal? MaxCostUsd,
    int MaxOutputTokens,
    string? BaseDirectory)
{
    public const string ProviderField = "provider";
    public const string BaseUrlField = "baseUrl";
    public const string ModelField = "model";
    public const string ApiKeyField = "apiKey";
    public const string ApiKeyEnvField = "apiKeyEnv";
    public const string ApiKeyFileField = "apiKeyFile";
    public const string SystemPromptField = "systemPrompt";
    public const string ToolsField = "tools";
    public const string McpServersField = "mcpServers";
    public const string MaxStepsField = "maxSteps";
    public const string MaxTokensField = "maxTokens";
    public const string MaxCostUsdField = "maxCostUsd";
    public const string MaxOutputTokensField = "maxOutputTokens";

    /// <summary>Steps when the definition sets none.</summary>
    public const int DefaultMaxSteps = 50;

    /// <summary>Output tokens per model call when the definition sets none (Anthropic requires a value).</summary>
    public const int DefaultMaxOutputTokens = 4096;

    private const int MaxStepsLimit = 10_000;

    private static readonly string[] KnownFields =
    [
        ProviderField, BaseUrlField, ModelField, ApiKeyField, ApiKeyEnvField, ApiKeyFileField, SystemPromptField, ToolsField,
        McpServersField, MaxStepsField, MaxTokensField, MaxCostUsdField, MaxOutputTokensField, ProcessSettings.BaseDirectoryField,
    ];

    /// <summary>The default endpoint of each provider.</summary>
    public static Uri DefaultBaseUrl(ProviderKind provider) => provider == ProviderKind.OpenAI
        ? new Uri("https://api.openai.com/v1")
        : new Uri("https://api.anthropic.com");

    /// <summary>The variable the key is read from when the definition names no source.</summary>
    public static string DefaultKeyVariable(ProviderKind provider) =>
        provider == ProviderKind.OpenAI ? "OPENAI_API_KEY" : "ANTHROPIC_API_KEY";

    /// <summary>Parses <paramref name="settings"/>; returns null and adds to <paramref name="problems"/> when it is not usable.</summary>
    public static NativeSettings? Parse(JsonElement? settings, List<SettingsProblem> problems)
    {
        if (settings is not { ValueKind: JsonValueKind.Object } section)
        {
            problems.Add(new("", $"must be a mapping with at least '{ProviderField}' (openai or anthropic) and '{ModelField}'"));
            return null;
        }

        var before = problems.Count;
        ProviderKind? provider = null;
        Uri? baseUrl = null;
        string? model = null, systemPrompt = null, baseDirectory = null;
        string? keyLiteral = null, keyVariable = null, keyFile = null;
        List<string>? tools = null;
        List<McpServerSettings> mcpServers = [];
        int maxSteps = DefaultMaxSteps, maxOutputTokens = DefaultMaxOutputTokens;
        long? maxTokens = null;
        decimal? maxCost = null;

        foreach (var property in section.EnumerateObject())
        {
            var value = property.Value;
            switch (property.Name)
            {
                case ProviderField:
                    provider = Text(value)?.ToLowerInvariant() switch
                    {
                        "openai" => ProviderKind.OpenAI,
                        "anthropic" => ProviderKind.Anthropic,
                        _ => null,
                    };
                    if (provider is null)
                    {
                        problems.Add(new(ProviderField, "must be 'openai' (any OpenAI-compatible endpoint) or 'anthropic'"));
                    }

                    break;

                case BaseUrlField:
                    baseUrl = Uri.TryCreate(Text(value), UriKind.Absolute, out var url) && url.Scheme is "http" or "https" ? url : null;
                    if (baseUrl is null)
                    {
                        problems.Add(new(BaseUrlField, "must be an absolute http or https URL, e.g. 'http://localhost:11434/v1'"));
                    }

                    break;

                case ModelField:
                    model = RequireText(value, ModelField, "must name the model, e.g. 'gpt-4o-mini' or 'claude-sonnet-4-5'", problems);
                    break;

                case ApiKeyField:
                    keyLiteral = RequireText(value, ApiKeyField, "must be the key text (prefer apiKeyEnv or apiKeyFile)", problems);
                    break;

                case ApiKeyEnvField:
                    keyVariable = RequireText(value, ApiKeyEnvField, "must name the environment variable that holds the key", problems);
                    break;

                case ApiKeyFileField:
                    keyFile = RequireText(value, ApiKeyFileField, "must be the path of a file that holds the key", problems);
                    break;

                case SystemPromptField:
                    systemPrompt = value.ValueKind == JsonValueKind.Null
                        ? null
                        : RequireText(value, SystemPromptField, "must be text", problems);
                    break;

                case ToolsField:
                    tools = ParseTools(value, problems);
                    break;

                case McpServersField:
                    ParseMcpServers(value, mcpServers, problems);
                    break;

                case MaxStepsField:
                    maxSteps = Number(value, MaxStepsField, 1, MaxStepsLimit, problems) is { } steps ? (int)steps : maxSteps;
                    break;

                case MaxTokensField:
                    maxTokens = (long?)Number(value, MaxTokensField, 1, long.MaxValue, problems);
                    break;

                case MaxCostUsdField:
                    maxCost = Number(value, MaxCostUsdField, 0.000001m, 1_000_000m, problems);
                    break;

                case MaxOutputTokensField:
                    maxOutputTokens = Number(value, MaxOutputTokensField, 1, 1_000_000, problems) is { } output ? (int)output : maxOutputTokens;
                    break;

                case ProcessSettings.BaseDirectoryField:
                    baseDirectory = Text(value);
                    break;

                default:
                    problems.Add(new(property.Name, $"unknown setting '{property.Name}'; the native runtime knows: {string.Join(", ", KnownFields)}"));
                    break;
            }
        }

        if (provider is null && !problems.Exists(p => p.Field == ProviderField))
        {
            problems.Add(new(ProviderField, "is required: 'openai' (any OpenAI-compatible endpoint) or 'anthropic'"));
        }

        if (model is null && !problems.Exists(p => p.Field == ModelField))
        {
            problems.Add(new(ModelField, "is required: the model to call, e.g. 'gpt-4o-mini' or 'claude-sonnet-4-5'"));
        }

        if (new[] { keyLiteral, keyVariable, keyFile }.Count(k => k is not null) > 1)
        {
            problems.Add(new(ApiKeyField, $"set at most one of '{ApiKeyField}', '{ApiKeyEnvField}' and '{ApiKeyFileField}'"));
        }

        if (problems.Count != before || provider is not { } kind || model is null)
        {
            return null;
        }

        var key = keyLiteral is null && keyFile is null
            ? new ApiKeySource(null, keyVariable ?? DefaultKeyVariable(kind), null)
            : new ApiKeySource(keyLiteral, null, keyFile);
        return new NativeSettings(
            kind, baseUrl ?? DefaultBaseUrl(kind), model, key, systemPrompt, tools ?? [.. BuiltInTools.Names], mcpServers,
            maxSteps, maxTokens, maxCost, maxOutputTokens, baseDirectory);
    }

    private static List<string>? ParseTools(JsonElement value, List<SettingsProblem> problems)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            problems.Add(new(ToolsField, $"must be a list of built-in tool names: {string.Join(", ", BuiltInTools.Names)}"));
            return null;
        }

        List<string> tools = [];
        var index = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (Text(item) is { } name && BuiltInTools.Names.Contains(name, StringComparer.Ordinal))
            {
                tools.Add(name);
            }
            else
            {
                problems.Add(new($"{ToolsField}[{index}]", $"must be one of the built-in tools: {string.Join(", ", BuiltInTools.Names)}"));
            }

            index++;
        }

        return tools;
    }

    private static void ParseMcpServers(JsonElement value, List<McpServerSettings> servers, List<SettingsProblem> problems)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            problems.Add(new(McpServersField, "must be a mapping of server names to { command, args, env } or { url }"));
            return;
        }

        foreach (var server in value.EnumerateObject())
        {
            var field = $"{McpServersField}.{server.Name}";
            if (!McpToolSource.IsValidServerName(server.Name))
            {
                problems.Add(new(field, "server names may use letters, digits, '-' and '_' only (up to 20 characters)"));
                continue;
            }

            if (server.Value.ValueKind != JsonValueKind.Object)
            {
                problems.Add(new(field, "must be a mapping with 'command' (a stdio server) or 'url' (an HTTP server)"));
                continue;
            }

            string? command = null;
            Uri? url = null;
            List<string> args = [];
            Dictionary<string, string> env = new(StringComparer.Ordinal);
            var before = problems.Count;
            foreach (var property in server.Value.EnumerateObject())
            {
                switch (property.Name)
                {
                    case "command":
                        command = RequireText(property.Value, $"{field}.command", "must name the server's executable", problems);
                        break;
                    case "args":
                        ParseStrings(property.Value, $"{field}.args", args, problems);
                        break;
                    case "env":
                        ParseEnv(property.Value, $"{field}.env", env, problems);
                        break;
                    case "url":
                        url = Uri.TryCreate(Text(property.Value), UriKind.Absolute, out var parsed) && parsed.Scheme is "http" or "https" ? parsed : null;
                        if (url is null)
                        {
                            problems.Add(new($"{field}.url", "must be an absolute http or https URL"));
                        }

                        break;
                    default:
                        problems.Add(new($"{field}.{property.Name}", "unknown setting; an MCP server has command, args, env (stdio) or url (HTTP)"));
                        break;
                }
            }

            if ((command is null) == (url is null) && problems.Count == before)
            {
                problems.Add(new(field, "needs exactly one of 'command' (a stdio server) and 'url' (an HTTP server)"));
            }

            if (problems.Count == before)
            {
                servers.Add(new McpServerSettings(server.Name, command, args, env, url));
            }
        }
    }

    private static void ParseStrings(JsonElement value, string field, List<string> into, List<SettingsProblem> problems)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            problems.Add(new(field, "must be a list of values"));
            return;
        }

        SettingsValues.ScalarList(value, field, into, problems);
    }

    private static void ParseEnv(JsonElement value, string field, Dictionary<string, string> env, List<SettingsProblem> problems)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            problems.Add(new(field, "must be a mapping of variable names to values"));
            return;
        }

        foreach (var variable in value.EnumerateObject())
        {
            if (SettingsValues.ScalarText(variable.Value) is { } text && variable.Name.Length > 0 && !variable.Name.Contains('=', StringComparison.Ordinal))
            {
                env[variable.Name] = text;
            }
            else
            {
                problems.Add(new($"{field}.{variable.Name}", "must be a valid variable name with a single value"));
            }
        }
    }

    private static string? RequireText(JsonElement value, string field, string message, List<SettingsProblem> problems)
    {
        var text = Text(value);
        if (string.IsNullOrWhiteSpace(text))
        {
            problems.Add(new(field, message));
            return null;
        }

        return text;
    }

    private static decimal? Number(JsonElement value, string field, decimal min, decimal max, List<SettingsProblem> problems)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        var text = SettingsValues.ScalarText(value);
        if (decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && number >= min && number <= max
            && (min < 1 || number == decimal.Truncate(number)))
        {
            return number;
        }

        var kind = min < 1 ? "a number" : "a whole number";
        problems.Add(new(field, string.Create(CultureInfo.InvariantCulture, $"must be {kind} from {min} to {max}")));
        return null;
    }

    private static string? Text(JsonElement value) => value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
