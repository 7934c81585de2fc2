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
