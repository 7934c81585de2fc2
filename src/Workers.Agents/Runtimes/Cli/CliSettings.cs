using System.Globalization;
using System.Text.Json;

namespace Workers.Agents.Runtimes.Cli;

/// <summary>The shape of one setting in a CLI runtime's section.</summary>
internal enum CliSettingKind
{
    /// <summary>Any text.</summary>
    Text,

    /// <summary>One of <see cref="CliSetting.Choices"/>.</summary>
    Choice,

    /// <summary>A whole number of at least 1.</summary>
    PositiveInteger,

    /// <summary>true or false.</summary>
    Flag,

    /// <summary>A list of scalars.</summary>
    List,

    /// <summary>A mapping of names to scalars.</summary>
    Map,
}

/// <summary>One setting a CLI runtime accepts, with an example for error messages.</summary>
internal sealed record CliSetting(string Name, CliSettingKind Kind, string Example, IReadOnlyList<string>? Choices = null);

/// <summary>
/// A CLI runtime's settings section (e.g. <c>claude-code: {model: sonnet, maxTurns: 20}</c>), parsed from the JSON the catalog
/// produced: by the catalog to validate it, and by the runtime to build the command line.
/// </summary>
internal sealed class CliSettings
{
    public const string CommandField = "command";
    public const string ModelField = "model";
    public const string ExtraArgsField = "extraArgs";
    public const string EnvField = "env";
    public const string BaseDirectoryField = "baseDirectory";
    public const string MaxTurnsField = "maxTurns";

    /// <summary>Settings every CLI runtime has.</summary>
    public static IReadOnlyList<CliSetting> Common { get; } =
    [
        new(CommandField, CliSettingKind.Text, "/opt/cli/bin/claude"),
        new(ModelField, CliSettingKind.Text, "sonnet"),
        new(ExtraArgsField, CliSettingKind.List, "[\"--add-dir\", \"../shared\"]"),
        new(EnvField, CliSettingKind.Map, "{ LOG_LEVEL: debug }"),
        new(BaseDirectoryField, CliSettingKind.Text, "/etc/workers"),
    ];

    private readonly Dictionary<string, object> _values;

    private CliSettings(Dictionary<string, object> values) => _values = values;

    public string? Command => Text(CommandField);

    public string? Model => Text(ModelField);

    public string? BaseDirectory => Text(BaseDirectoryField);

    public IReadOnlyList<string> ExtraArgs => List(ExtraArgsField);

    public IReadOnlyDictionary<string, string> Env => _values.TryGetValue(EnvField, out var value) ? (Dictionary<string, string>)value : [];

    public string? Text(string name) => _values.TryGetValue(name, out var value) ? (string)value : null;

    public int? Integer(string name) => _values.TryGetValue(name, out var value) ? (int)value : null;

    public bool Flag(string name) => _values.TryGetValue(name, out var value) && (bool)value;

    public IReadOnlyList<string> List(string name) => _values.TryGetValue(name, out var value) ? (List<string>)value : [];

    public IReadOnlyDictionary<string, string> Map(string name) =>
        _values.TryGetValue(name, out var value) ? (Dictionary<string, string>)value : [];

    /// <summary>
    /// Parses <paramref name="settings"/> (null or an empty section means all defaults). Returns null and adds to
    /// <paramref name="problems"/> when something is unusable; <paramref name="unsupported"/> names settings the CLI has no flag for.
    /// </summary>
    public static CliSettings? Parse(
        string runtime,
        IReadOnlyList<CliSetting> specific,
        IReadOnlyDictionary<string, string> unsupported,
        JsonElement? settings,
        List<SettingsProblem> problems)
    {
        var values = new Dictionary<string, object>(StringComparer.Ordinal);
        if (settings is not { } section || section.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return new CliSettings(values);
        }

        if (section.ValueKind != JsonValueKind.Object)
        {
            problems.Add(new("", $"must be a mapping of the '{runtime}' runtime's settings"));
            return null;
        }

        var known = Common.Concat(specific).ToDictionary(s => s.Name, StringComparer.Ordinal);
        var before = problems.Count;
        foreach (var property in section.EnumerateObject())
        {
            if (unsupported.TryGetValue(property.Name, out var why))
            {
                problems.Add(new(property.Name, why));
            }
            else if (!known.TryGetValue(property.Name, out var setting))
            {
                problems.Add(new(
                    property.Name,
                    $"unknown setting '{property.Name}'; the {runtime} runtime knows: {string.Join(", ", known.Keys.Where(k => k != BaseDirectoryField))} (pass anything else with {ExtraArgsField})"));
            }
            else if (property.Value.ValueKind != JsonValueKind.Null && ParseValue(setting, property.Value, problems) is { } value)
            {
                values[property.Name] = value;
            }
        }

        if (values.TryGetValue(BaseDirectoryField, out var baseDirectory) && !Path.IsPathFullyQualified((string)baseDirectory))
        {
            problems.Add(new(BaseDirectoryField, "must be an absolute directory path"));
        }

        return problems.Count == before ? new CliSettings(values) : null;
    }

    private static object? ParseValue(CliSetting setting, JsonElement value, List<SettingsProblem> problems)
    {
        var name = setting.Name;
        switch (setting.Kind)
        {
            case CliSettingKind.Text:
                if (SettingsValues.ScalarText(value) is { Length: > 0 } text && !string.IsNullOrWhiteSpace(text))
                {
                    return text;
                }

                problems.Add(new(name, $"must be a single non-empty value, e.g. {setting.Example}"));
                return null;

            case CliSettingKind.Choice:
                var choice = SettingsValues.ScalarText(value);
                if (choice is not null && setting.Choices!.Contains(choice, StringComparer.Ordinal))
                {
                    return choice;
                }

                problems.Add(new(name, $"must be one of: {string.Join(", ", setting.Choices!)}"));
                return null;

            case CliSettingKind.PositiveInteger:
                if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var number) && number >= 1)
                {
                    return number;
                }

                if (value.ValueKind == JsonValueKind.String
                    && int.TryParse(value.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out number) && number >= 1)
                {
                    return number;
                }

                problems.Add(new(name, $"must be a whole number of at least 1, e.g. {setting.Example}"));
                return null;

            case CliSettingKind.Flag:
                if (value.ValueKind is JsonValueKind.True or JsonValueKind.False)
                {
                    return value.ValueKind == JsonValueKind.True;
                }

                if (value.ValueKind == JsonValueKind.String && bool.TryParse(value.GetString(), out var flag))
                {
                    return flag;
                }

                problems.Add(new(name, "must be true or false"));
                return null;

            case CliSettingKind.List:
                if (value.ValueKind != JsonValueKind.Array)
                {
                    problems.Add(new(name, $"must be a list, e.g. {setting.Example}"));
                    return null;
                }

                var list = new List<string>();
                SettingsValues.ScalarList(value, name, list, problems);

                return list;

            case CliSettingKind.Map:
                if (value.ValueKind != JsonValueKind.Object)
                {
                    problems.Add(new(name, $"must be a mapping, e.g. {setting.Example}"));
                    return null;
                }

                var map = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var entry in value.EnumerateObject())
                {
                    if (entry.Name.Length == 0 || entry.Name.Contains('=', StringComparison.Ordinal) || entry.Name.Contains('\0', StringComparison.Ordinal))
                    {
                        problems.Add(new($"{name}.{entry.Name}", "is not a valid name"));
                    }
                    else if (SettingsValues.ScalarText(entry.Value) is { } entryText)
                    {
                        map[entry.Name] = entryText;
                    }
                    else
                    {
                        problems.Add(new($"{name}.{entry.Name}", "must be a single value (text, number or boolean)"));
                    }
                }

                return map;

            default:
                throw new InvalidOperationException($"Unknown setting kind {setting.Kind}.");
        }
    }
}
