using System.Text.Json;

namespace Workers.Agents.Runtimes;

/// <summary>
/// The <c>process:</c> section of an agent definition: which executable to run, with which arguments and environment.
/// Parsed from the JSON the catalog produced (or an inline spec), by the catalog to validate and by the runtime to run.
/// </summary>
internal sealed record ProcessSettings(
    string Command,
    IReadOnlyList<string> Args,
    IReadOnlyDictionary<string, string> Env,
    string? BaseDirectory)
{
    public const string CommandField = "command";
    public const string ArgsField = "args";
    public const string EnvField = "env";
    public const string BaseDirectoryField = "baseDirectory";

    private static readonly string[] KnownFields = [CommandField, ArgsField, EnvField, BaseDirectoryField];

    /// <summary>Parses <paramref name="settings"/>; returns null and adds to <paramref name="problems"/> when it is not usable.</summary>
    public static ProcessSettings? Parse(JsonElement? settings, List<SettingsProblem> problems)
    {
        if (settings is not { ValueKind: JsonValueKind.Object } section)
        {
            problems.Add(new("", $"must be a mapping with at least '{CommandField}' (the executable to run)"));
            return null;
        }

        var before = problems.Count;
        string? command = null;
        List<string> args = [];
        Dictionary<string, string> env = new(StringComparer.Ordinal);
        string? baseDirectory = null;

        foreach (var property in section.EnumerateObject())
        {
            switch (property.Name)
            {
                case CommandField:
                    command = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString() : null;
                    if (string.IsNullOrWhiteSpace(command))
                    {
                        problems.Add(new(CommandField, "must name the executable to run, e.g. 'agents/my-agent.sh' or 'python3'"));
                    }

                    break;

                case ArgsField:
                    ParseArgs(property.Value, args, problems);
                    break;

                case EnvField:
                    ParseEnv(property.Value, env, problems);
                    break;

                case BaseDirectoryField:
                    baseDirectory = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString() : null;
                    if (baseDirectory is null || !Path.IsPathFullyQualified(baseDirectory))
                    {
                        problems.Add(new(BaseDirectoryField, "must be an absolute directory path"));
                    }

                    break;

                default:
                    problems.Add(new(property.Name, $"unknown setting '{property.Name}'; the process runtime knows: {string.Join(", ", KnownFields)}"));
                    break;
            }
        }

        if (command is null && !problems.Exists(p => p.Field == CommandField))
        {
            problems.Add(new(CommandField, "is required: the executable to run, e.g. 'agents/my-agent.sh' or 'python3'"));
        }

        return problems.Count == before && command is not null
            ? new ProcessSettings(command, args, env, baseDirectory)
            : null;
    }

    private static void ParseArgs(JsonElement value, List<string> args, List<SettingsProblem> problems)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            problems.Add(new(ArgsField, "must be a list, e.g. [\"--verbose\", \"--model\", \"small\"]"));
            return;
        }

        SettingsValues.ScalarList(value, ArgsField, args, problems);
    }

    private static void ParseEnv(JsonElement value, Dictionary<string, string> env, List<SettingsProblem> problems)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            problems.Add(new(EnvField, "must be a mapping of variable names to values, e.g. { LOG_LEVEL: debug }"));
            return;
        }

        foreach (var variable in value.EnumerateObject())
        {
            var field = $"{EnvField}.{variable.Name}";
            if (variable.Name.Length == 0 || variable.Name.Contains('=', StringComparison.Ordinal) || variable.Name.Contains('\0', StringComparison.Ordinal))
            {
                problems.Add(new(field, "is not a valid environment variable name"));
            }
            else if (SettingsValues.ScalarText(variable.Value) is { } text)
            {
                env[variable.Name] = text;
            }
            else
            {
                problems.Add(new(field, "must be a single value (text, number or boolean)"));
            }
        }
    }
}
