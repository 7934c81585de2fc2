namespace Workers.Agents.Definitions;

/// <summary>Where the agent definitions file is. Bound from the <c>Workers:Agents</c> configuration section.</summary>
public sealed class AgentCatalogOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "Workers:Agents";

    /// <summary>The file used when <see cref="Path"/> is not set and it exists in the current directory.</summary>
    public const string DefaultFileName = "agents.yaml";

    /// <summary>
    /// Path of the agents YAML file (<c>Workers:Agents:Path</c>, environment variable <c>Workers__Agents__Path</c>).
    /// A relative path resolves against the current directory. Unset: <c>agents.yaml</c> in the current directory.
    /// </summary>
    public string? Path { get; set; }
}
