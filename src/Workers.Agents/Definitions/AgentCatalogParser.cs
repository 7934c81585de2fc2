using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

using Workers.Agents.Runtimes;
using Workers.Contracts;

using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Workers.Agents.Definitions;

/// <summary>
/// Reads the agents YAML file into definitions. Collects every problem it finds, each as
/// <c>{source}: {field path}: {message} (line L, column C)</c>, and throws them together.
/// </summary>
internal sealed partial class AgentCatalogParser
{
    private const string AgentsField = "agents";
    private const string DescriptionField = "description";
    private const string RuntimeField = "runtime";
    private const string RuntimesField = "runtimes";
    private const string LimitsField = "limits";
    private const string MaxAttemptsField = "maxAttempts";
    private const string WorkspaceField = "workspace";
    private const string RepositoryField = "repository";
    private const string RefField = "ref";
    private const int MaxAttemptsLimit = 100;

    /// <summary>Top-level keys with this prefix are the user's own (e.g. to hold YAML anchors), as in Compose files.</summary>
    private const string ExtensionPrefix = "x-";

    private readonly string _source;
    private readonly Dictionary<string, string> _extraSettings;
    private readonly List<string> _errors = [];

    private AgentCatalogParser(string source, string baseDirectory)
    {
        _source = source;
        _extraSettings = new(StringComparer.Ordinal) { [ProcessSettings.BaseDirectoryField] = baseDirectory };
    }

    private static string KnownRuntimes => string.Join(", ", RuntimeNames.All);

    /// <summary>Parses <paramref name="yaml"/>; <paramref name="baseDirectory"/> is added to every runtime's settings.</summary>
    /// <exception cref="AgentDefinitionException">The text is not valid YAML or breaks a rule; the message lists every problem.</exception>
    public static List<AgentDefinition> Parse(string yaml, string source, string baseDirectory)
    {
        var parser = new AgentCatalogParser(source, baseDirectory);
        var agents = parser.ParseFile(yaml);
        return parser._errors.Count == 0 ? agents : throw new AgentDefinitionException(parser._errors);
    }

    private List<AgentDefinition> ParseFile(string yaml)
    {
        var agents = new List<AgentDefinition>();
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            _errors.Add($"{_source}: line {ex.Start.Line}, column {ex.Start.Column}: invalid YAML: {ex.Message}");
            return agents;
        }

        if (stream.Documents.Count == 0)
        {
            _errors.Add($"{_source}: the file is empty; it needs a top-level 'agents:' mapping");
            return agents;
        }

        if (stream.Documents.Count > 1)
        {
            _errors.Add($"{_source}: the file holds {stream.Documents.Count} YAML documents; put every agent under one 'agents:' mapping");
        }

        var root = stream.Documents[0].RootNode;
        if (root is not YamlMappingNode rootMapping)
        {
            Error("(top level)", "must be a mapping with an 'agents:' entry", root);
            return agents;
        }

        YamlNode? agentsNode = null;
        foreach (var (key, value) in YamlMerge.Entries(rootMapping, "(top level)", Error))
        {
            var name = KeyName(key, "(top level)");
            if (name == AgentsField)
            {
                agentsNode = value;
            }
            else if (name is not null && !name.StartsWith(ExtensionPrefix, StringComparison.Ordinal))
            {
                Error(name, $"unknown field '{name}'; the top level has '{AgentsField}', and '{ExtensionPrefix}…' entries for your own anchors", key);
            }
        }

        switch (agentsNode)
        {
            case null:
                Error(AgentsField, "missing; define your agents under a top-level 'agents:' mapping", root);
                break;
            case YamlScalarNode scalar when IsEmpty(scalar):
                break;
            case YamlMappingNode mapping:
                foreach (var (key, value) in YamlMerge.Entries(mapping, AgentsField, Error))
                {
                    if (KeyName(key, AgentsField) is { } name && ParseAgent(name, key, value) is { } agent)
                    {
                        agents.Add(agent);
                    }
                }

                break;
            default:
                Error(AgentsField, "must be a mapping from agent name to definition", agentsNode);
                break;
        }

        return agents;
    }

    private AgentDefinition? ParseAgent(string name, YamlNode key, YamlNode body)
    {
        var path = $"{AgentsField}.{name}";
        var errorsBefore = _errors.Count;
        if (!AgentName().IsMatch(name))
        {
            Error(path, $"invalid agent name '{name}'; names use lowercase letters, digits, '.', '_' and '-', and start with a letter or digit", key);
        }

        var fields = body switch
        {
            YamlMappingNode mapping => mapping,
            YamlScalarNode scalar when IsEmpty(scalar) => new YamlMappingNode(),
            _ => null,
        };
        if (fields is null)
        {
            Error(path, $"must be a mapping with at least '{RuntimeField}' and that runtime's settings", body);
            return null;
        }

        string? description = null;
        YamlNode? runtimeNode = null;
        YamlNode? runtimesNode = null;
        YamlNode? limitsNode = null;
        YamlNode? workspaceNode = null;
        var sections = new Dictionary<string, (YamlNode Key, YamlNode Value)>(StringComparer.Ordinal);
        foreach (var (fieldKey, value) in YamlMerge.Entries(fields, path, Error))
        {
            switch (KeyName(fieldKey, path))
            {
                case null:
                    break;
                case DescriptionField:
                    description = value is YamlScalarNode blank && IsEmpty(blank) ? null : Text(value, $"{path}.{DescriptionField}");
                    break;
                case RuntimeField:
                    runtimeNode = value;
                    break;
                case RuntimesField:
                    runtimesNode = value;
                    break;
                case LimitsField:
                    limitsNode = value;
                    break;
                case WorkspaceField:
                    workspaceNode = value;
                    break;
                case var section when RuntimeNames.All.Contains(section):
                    sections[section] = (fieldKey, value);
                    break;
                case var unknown:
                    Error(
                        $"{path}.{unknown}",
                        $"unknown field '{unknown}'; an agent has {DescriptionField}, {RuntimeField} or {RuntimesField}, {LimitsField}, {WorkspaceField}, and a settings section per runtime ({KnownRuntimes})",
                        fieldKey);
                    break;
            }
        }

        var errorsBeforeRuntimes = _errors.Count;
        var runtimes = ParseRuntimes(path, key, runtimeNode, runtimesNode);
        var runtimesValid = _errors.Count == errorsBeforeRuntimes;
        var settings = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var runtime in runtimes)
        {
            settings[runtime] = ParseSettings(path, runtime, key, sections.TryGetValue(runtime, out var section) ? section.Value : null);
        }

        foreach (var (runtime, section) in sections)
        {
            // After a bad runtime choice (say a typo), the section is most likely fine: one error is enough.
            if (runtimesValid && !runtimes.Contains(runtime))
            {
                Error($"{path}.{runtime}", $"settings for runtime '{runtime}', which this agent does not list in '{RuntimeField}' or '{RuntimesField}'", section.Key);
            }
        }

        var limits = ParseLimits($"{path}.{LimitsField}", limitsNode);
        var workspace = ParseWorkspace($"{path}.{WorkspaceField}", workspaceNode);
        return _errors.Count > errorsBefore
            ? null
            : new AgentDefinition { Name = name, Description = description, Runtimes = runtimes, Settings = settings, Limits = limits, Workspace = workspace };
    }

    private List<string> ParseRuntimes(string path, YamlNode agentKey, YamlNode? runtimeNode, YamlNode? runtimesNode)
    {
        var runtimes = new List<string>();
        if (runtimeNode is not null && runtimesNode is not null)
        {
            Error($"{path}.{RuntimesField}", $"set either '{RuntimeField}' (one runtime) or '{RuntimesField}' (a list), not both", runtimesNode);
            return runtimes;
        }

        if (runtimeNode is not null)
        {
            var field = $"{path}.{RuntimeField}";
            if (runtimeNode is YamlSequenceNode)
            {
                Error(field, $"expected one runtime name; to list several, use '{RuntimesField}: [first, second]'", runtimeNode);
            }
            else if (Text(runtimeNode, field) is { } runtime)
            {
                AddRuntime(runtimes, runtime, field, runtimeNode);
            }
        }
        else if (runtimesNode is not null)
        {
            var field = $"{path}.{RuntimesField}";
            if (runtimesNode is not YamlSequenceNode list)
            {
                Error(field, $"must be a list, e.g. '{RuntimesField}: [{RuntimeNames.Process}]'; for a single runtime you can write '{RuntimeField}: {RuntimeNames.Process}'", runtimesNode);
            }
            else if (list.Children.Count == 0)
            {
                Error(field, $"must list at least one runtime; known runtimes: {KnownRuntimes}", runtimesNode);
            }
            else
            {
                for (var i = 0; i < list.Children.Count; i++)
                {
                    if (Text(list.Children[i], $"{field}[{i}]") is { } runtime)
                    {
                        AddRuntime(runtimes, runtime, $"{field}[{i}]", list.Children[i]);
                    }
                }
            }
        }
        else
        {
            Error($"{path}.{RuntimeField}", $"missing; set '{RuntimeField}: <name>' or '{RuntimesField}: [<name>, ...]'; known runtimes: {KnownRuntimes}", agentKey);
        }

        return runtimes;
    }

    private void AddRuntime(List<string> runtimes, string runtime, string field, YamlNode node)
    {
        if (!RuntimeNames.All.Contains(runtime))
        {
            Error(field, $"unknown runtime '{runtime}'; known runtimes: {KnownRuntimes}", node);
        }
        else if (runtimes.Contains(runtime))
        {
            Error(field, $"runtime '{runtime}' is listed twice", node);
        }
        else
        {
            runtimes.Add(runtime);
        }
    }

    private JsonElement ParseSettings(string agentPath, string runtime, YamlNode agentKey, YamlNode? section)
    {
        var path = $"{agentPath}.{runtime}";
        var mapping = section as YamlMappingNode;
        if (section is not null and not YamlMappingNode && !(section is YamlScalarNode scalar && IsEmpty(scalar)))
        {
            Error(path, $"must be a mapping of the '{runtime}' runtime's settings", section);
            return default;
        }

        var positions = new Dictionary<string, Mark>(StringComparer.Ordinal);
        var settings = YamlToJson.ToObject(mapping, path, _extraSettings, positions, (field, message, node) => Error(field, message, node));
        var problems = RuntimeSettings.Validate(runtime, settings);
        if (problems.Count == 0)
        {
            return settings;
        }

        if (section is null)
        {
            var needs = string.Join("; ", problems.Select(p => p.Field.Length == 0 ? p.Message : $"{p.Field} {p.Message}"));
            Error(path, $"missing; the agent runs on '{runtime}', which needs a '{runtime}:' section ({needs})", agentKey);
            return settings;
        }

        foreach (var problem in problems)
        {
            var field = problem.Field.Length == 0 ? path : $"{path}.{problem.Field}";
            var where = positions.TryGetValue(field, out var mark) ? mark : section.Start;
            AddError(field, problem.Message, where);
        }

        return settings;
    }

    private RunLimits ParseLimits(string path, YamlNode? node)
    {
        var limits = new RunLimits();
        if (node is null or YamlScalarNode { Value: "" or "~" or "null" })
        {
            return limits;
        }

        if (node is not YamlMappingNode mapping)
        {
            Error(path, $"must be a mapping, e.g. '{LimitsField}: {{ {MaxAttemptsField}: 3, startToCloseTimeout: 30m }}'", node);
            return limits;
        }

        foreach (var (key, value) in YamlMerge.Entries(mapping, path, Error))
        {
            var name = KeyName(key, path);
            var field = $"{path}.{name}";
            switch (name)
            {
                case null:
                    break;
                case MaxAttemptsField:
                    if (Text(value, field) is { } text)
                    {
                        if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var attempts)
                            && attempts is >= 1 and <= MaxAttemptsLimit)
                        {
                            limits = limits with { MaxAttempts = attempts };
                        }
                        else
                        {
                            Error(field, $"must be a whole number from 1 to {MaxAttemptsLimit} (attempts in all, the first included), got '{text}'", value);
                        }
                    }

                    break;
                case "retryInitialDelay":
                    limits = limits with { RetryInitialDelay = Duration(value, field, allowZero: true) };
                    break;
                case "retryMaxDelay":
                    limits = limits with { RetryMaxDelay = Duration(value, field, allowZero: true) };
                    break;
                case "scheduleToStartTimeout":
                    limits = limits with { ScheduleToStartTimeout = Duration(value, field, allowZero: false) };
                    break;
                case "startToCloseTimeout":
                    limits = limits with { StartToCloseTimeout = Duration(value, field, allowZero: false) };
                    break;
                case "scheduleToCloseTimeout":
                    limits = limits with { ScheduleToCloseTimeout = Duration(value, field, allowZero: false) };
                    break;
                case "stallTimeout":
                    limits = limits with { StallTimeout = Duration(value, field, allowZero: false) };
                    break;
                case "retryOnStall":
                    if (Text(value, field) is { } flag)
                    {
                        if (bool.TryParse(flag, out var retry))
                        {
                            limits = limits with { RetryOnStall = retry };
                        }
                        else
                        {
                            Error(field, $"must be true or false, got '{flag}'", value);
                        }
                    }

                    break;
                case "nonRetryableErrors":
                    limits = limits with { NonRetryableErrors = Kinds(value, field) };
                    break;
                case var unknown:
                    Error(field, $"unknown limit '{unknown}'; known limits: {string.Join(", ", KnownLimits)}", key);
                    break;
            }
        }

        if (limits is { RetryInitialDelay: { } initial, RetryMaxDelay: { } max } && max < initial)
        {
            Error($"{path}.retryMaxDelay", $"({max}) is shorter than retryInitialDelay ({initial})", node);
        }

        return limits;
    }

    private static readonly string[] KnownLimits =
    [
        MaxAttemptsField, "retryInitialDelay", "retryMaxDelay", "nonRetryableErrors", "scheduleToStartTimeout", "startToCloseTimeout",
        "scheduleToCloseTimeout", "stallTimeout", "retryOnStall",
    ];

    /// <summary>The longest timeout or delay accepted: longer is almost certainly a unit mistake.</summary>
    private static readonly TimeSpan MaxDuration = TimeSpan.FromDays(30);

    private TimeSpan? Duration(YamlNode value, string field, bool allowZero)
    {
        if (Text(value, field) is not { } text)
        {
            return null;
        }

        if (DurationText.TryParse(text, out var duration) && (allowZero || duration > TimeSpan.Zero) && duration <= MaxDuration)
        {
            return duration;
        }

        Error(field, $"must be a duration {(allowZero ? "from 0" : "above 0")} up to 30 days ({DurationText.Examples}), got '{text}'", value);
        return null;
    }

    private List<string>? Kinds(YamlNode value, string field)
    {
        if (value is not YamlSequenceNode sequence)
        {
            Error(field, "must be a list of failure kinds, e.g. [exit-code, no-result]", value);
            return null;
        }

        var kinds = new List<string>();
        foreach (var item in sequence)
        {
            if (Text(item, field) is { } kind)
            {
                kinds.Add(kind);
            }
        }

        return kinds;
    }

    private WorkspaceSpec? ParseWorkspace(string path, YamlNode? node)
    {
        if (node is null or YamlScalarNode { Value: "" or "~" or "null" })
        {
            return null;
        }

        if (node is not YamlMappingNode mapping)
        {
            Error(path, $"must be a mapping, e.g. '{WorkspaceField}: {{ {RepositoryField}: https://example.com/project.git, {RefField}: main }}'", node);
            return null;
        }

        string? repository = null;
        string? reference = null;
        var hasRepository = false;
        foreach (var (key, value) in YamlMerge.Entries(mapping, path, Error))
        {
            switch (KeyName(key, path))
            {
                case null:
                    break;
                case RepositoryField:
                    hasRepository = true;
                    repository = CheckedText(value, $"{path}.{RepositoryField}", WorkspaceAddress.RepositoryProblem);
                    break;
                case RefField:
                    reference = CheckedText(value, $"{path}.{RefField}", WorkspaceAddress.RefProblem);
                    break;
                case var unknown:
                    Error($"{path}.{unknown}", $"unknown field '{unknown}'; a workspace has {RepositoryField} and {RefField}", key);
                    break;
            }
        }

        if (!hasRepository)
        {
            Error($"{path}.{RepositoryField}", "missing; name the git repository to clone into each run's workspace", node);
        }

        return repository is null ? null : new WorkspaceSpec { Repository = repository, Ref = reference };
    }

    /// <summary>The scalar's text, with an error when <paramref name="problem"/> finds one in it.</summary>
    private string? CheckedText(YamlNode node, string path, Func<string, string?> problem)
    {
        var text = Text(node, path);
        if (text is not null && problem(text) is { } message)
        {
            Error(path, message, node);
        }

        return text;
    }

    /// <summary>The key's name, or null (with an error) when the key is not a plain scalar.</summary>
    private string? KeyName(YamlNode key, string parentPath)
    {
        if (key is YamlScalarNode { Value: { } name })
        {
            return name;
        }

        Error(parentPath, "keys must be plain names, not lists or mappings", key);
        return null;
    }

    /// <summary>The scalar's text, or null (with an error) for lists, mappings and empty values.</summary>
    private string? Text(YamlNode node, string path)
    {
        if (node is YamlScalarNode scalar && !IsEmpty(scalar))
        {
            return scalar.Value;
        }

        Error(path, "must be a single value", node);
        return null;
    }

    private static bool IsEmpty(YamlScalarNode scalar) =>
        scalar.Style == ScalarStyle.Plain && scalar.Value is null or "" or "~" or "null" or "Null" or "NULL";

    private void Error(string path, string message, YamlNode node) => AddError(path, message, node.Start);

    private void AddError(string path, string message, Mark at) =>
        _errors.Add(string.Create(CultureInfo.InvariantCulture, $"{_source}: {path}: {message} (line {at.Line}, column {at.Column})"));

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex AgentName();
}
