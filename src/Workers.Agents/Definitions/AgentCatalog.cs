namespace Workers.Agents.Definitions;

/// <summary>
/// The agent definitions, read from the agents YAML file (see <c>examples/agents.yaml</c>). Immutable once loaded.
/// </summary>
/// <remarks>
/// Every runtime settings section gets a <c>baseDirectory</c> entry (the file's absolute directory), so a runtime
/// resolves relative paths such as <c>command: agents/echo.sh</c> the same way on every worker.
/// </remarks>
public sealed class AgentCatalog : IAgentCatalog
{
    private readonly AgentDefinition[] _agents;
    private readonly Dictionary<string, AgentDefinition> _byName;

    /// <summary>Creates a catalog from definitions already in memory (tests, or definitions from another source).</summary>
    public AgentCatalog(IEnumerable<AgentDefinition> agents, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(agents);
        _agents = [.. agents];
        _byName = new(StringComparer.Ordinal);
        foreach (var agent in _agents)
        {
            if (!_byName.TryAdd(agent.Name, agent))
            {
                throw new ArgumentException($"Agent '{agent.Name}' is defined twice.", nameof(agents));
            }
        }

        Source = source;
    }

    /// <summary>Where the definitions came from (the path as configured), for messages.</summary>
    public string? Source { get; }

    /// <summary>The agents in the order the file lists them.</summary>
    public IReadOnlyCollection<AgentDefinition> Agents => _agents;

    public bool TryGet(string name, out AgentDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_byName.TryGetValue(name, out var found))
        {
            definition = found;
            return true;
        }

        definition = null!;
        return false;
    }

    /// <summary>Loads and validates the agents YAML file at <paramref name="path"/>.</summary>
    /// <exception cref="AgentDefinitionException">
    /// The file is missing or unreadable, is not valid YAML, or breaks a rule; the message names the file and lists every problem.
    /// </exception>
    public static AgentCatalog Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var fullPath = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(fullPath))
        {
            throw new AgentDefinitionException(
                $"{path}: is a directory, not an agent definitions file. {HowToSetPath}");
        }

        string yaml;
        try
        {
            yaml = File.ReadAllText(fullPath);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new AgentDefinitionException(
                $"{path}: agent definitions file not found (looked for {fullPath}). {HowToSetPath}", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new AgentDefinitionException($"{path}: cannot read the agent definitions file: {ex.Message}", ex);
        }

        return Parse(yaml, path, System.IO.Path.GetDirectoryName(fullPath));
    }

    /// <summary>Parses agent definitions from YAML text.</summary>
    /// <param name="yaml">The file's content.</param>
    /// <param name="sourceName">Names the source in error messages, e.g. the file path.</param>
    /// <param name="baseDirectory">
    /// The directory relative paths in settings resolve against; default: the directory of <paramref name="sourceName"/>
    /// taken as a path.
    /// </param>
    /// <exception cref="AgentDefinitionException">The text is not valid YAML or breaks a rule; the message lists every problem.</exception>
    public static AgentCatalog Parse(string yaml, string sourceName, string? baseDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentException.ThrowIfNullOrWhiteSpace(sourceName);
        baseDirectory = System.IO.Path.GetFullPath(baseDirectory ?? System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(sourceName)) ?? ".");
        return new AgentCatalog(AgentCatalogParser.Parse(yaml, sourceName, baseDirectory), sourceName);
    }

    internal const string HowToSetPath =
        $"Set {AgentCatalogOptions.SectionName}:Path (environment variable Workers__Agents__Path) to the path of your agents YAML file.";
}
