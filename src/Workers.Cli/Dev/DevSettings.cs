namespace Workers.Cli.Dev;

/// <summary>What <c>workers dev</c> runs with, every path absolute.</summary>
/// <param name="Urls">Kestrel URLs, ';'-separated as ASP.NET Core takes them.</param>
/// <param name="AgentsPath">The agents file.</param>
/// <param name="DataPath">The SQLite database file holding the saga state.</param>
/// <param name="Slots">Concurrent runs for the embedded worker; null keeps the worker's default.</param>
internal sealed record DevSettings(string Urls, string AgentsPath, string DataPath, int? Slots)
{
    public const string DefaultUrls = "http://127.0.0.1:5080";
    public const string DefaultDataPath = ".workers/workers.db";
    const string ExampleAgents = "examples/agents.yaml";
    const string LocalAgents = "agents.yaml";

    /// <summary>Fills in the defaults and makes paths absolute against <paramref name="currentDirectory"/>.</summary>
    public static DevSettings Resolve(string? urls, string? agentsPath, string? dataPath, int? slots, string currentDirectory) => new(
        string.IsNullOrWhiteSpace(urls) ? DefaultUrls : urls,
        agentsPath is { Length: > 0 } ? Path.GetFullPath(agentsPath, currentDirectory) : FindAgentsFile(currentDirectory),
        Path.GetFullPath(dataPath is { Length: > 0 } ? dataPath : DefaultDataPath, currentDirectory),
        slots);

    /// <summary>
    /// The repository's <c>examples/agents.yaml</c>, looked for in <paramref name="currentDirectory"/> and each parent
    /// (so <c>workers dev</c> works from anywhere in a checkout), else <c>./agents.yaml</c>.
    /// </summary>
    public static string FindAgentsFile(string currentDirectory)
    {
        for (var directory = new DirectoryInfo(currentDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, ExampleAgents);
            if (File.Exists(candidate))
                return candidate;
        }
        return Path.GetFullPath(LocalAgents, currentDirectory);
    }

    /// <summary>The configuration the embedded fleet runs on; it overrides appsettings, environment and command line.</summary>
    public IReadOnlyDictionary<string, string?> ConfigurationOverrides()
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Workers:Bus:Transport"] = "InMemory",
            ["Workers:Store:Provider"] = "Sqlite",
            ["Workers:Store:ConnectionString"] = $"Data Source={DataPath}",
            ["Workers:Agents:Path"] = AgentsPath,
        };
        if (Slots is { } slots)
            values["Workers:Worker:Slots"] = slots.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return values;
    }
}
