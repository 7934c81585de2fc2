namespace Workers.Agents.Definitions;

/// <summary>The agent definitions the fleet knows, loaded from the agents YAML file.</summary>
public interface IAgentCatalog
{
    IReadOnlyCollection<AgentDefinition> Agents { get; }

    bool TryGet(string name, out AgentDefinition definition);
}
