using System.Text.Json;

namespace Workers.Agents.Runtimes;

/// <summary>A problem in a runtime's settings section; <see cref="Field"/> is relative to the section ("" for the section itself).</summary>
internal readonly record struct SettingsProblem(string Field, string Message);

/// <summary>What each runtime requires of its settings section, checked when the definitions file loads.</summary>
internal static class RuntimeSettings
{
    /// <summary>Problems in <paramref name="settings"/> for <paramref name="runtime"/>; runtimes without rules accept any mapping.</summary>
    public static IReadOnlyList<SettingsProblem> Validate(string runtime, JsonElement settings)
    {
        var problems = new List<SettingsProblem>();
        if (runtime == RuntimeNames.Process)
        {
            ProcessSettings.Parse(settings, problems);
        }
        else if (runtime == RuntimeNames.Native)
        {
            Native.NativeSettings.Parse(settings, problems);
        }
        else if (Cli.CliDialects.Find(runtime) is { } dialect)
        {
            dialect.ParseSettings(settings, problems);
        }

        return problems;
    }
}

/// <summary>Reading values out of a runtime's settings section, the same way for every runtime.</summary>
internal static class SettingsValues
{
    /// <summary>The text of a scalar as written (numbers keep their exact form); null for lists, mappings and null.</summary>
    public static string? ScalarText(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Number => value.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => null,
    };

    /// <summary>Adds each scalar of the list <paramref name="value"/> to <paramref name="into"/>; other items are problems at their index.</summary>
    public static void ScalarList(JsonElement value, string field, List<string> into, List<SettingsProblem> problems)
    {
        var index = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (ScalarText(item) is { } text)
            {
                into.Add(text);
            }
            else
            {
                problems.Add(new($"{field}[{index}]", "must be a single value (text, number or boolean)"));
            }

            index++;
        }
    }

    /// <summary>The outcome of an attempt whose (inline) settings do not parse: every problem, not retryable.</summary>
    public static AgentOutcome.Failed Invalid(string agent, string runtime, IEnumerable<SettingsProblem> problems, string kind)
    {
        var details = string.Join("; ", problems.Select(p => p.Field.Length == 0 ? p.Message : $"{p.Field} {p.Message}"));
        return new AgentOutcome.Failed($"Agent '{agent}' has invalid {runtime} settings: {details}.", kind, Retryable: false);
    }
}
