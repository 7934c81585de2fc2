using System.Text.Json;

using Workers.Contracts;

namespace Workers.Agents.Definitions;

/// <summary>One agent from the definitions file.</summary>
public sealed record AgentDefinition
{
    public required string Name { get; init; }

    public string? Description { get; init; }

    /// <summary>The runtimes this agent can run on, in order of preference (the first is the default).</summary>
    public required IReadOnlyList<string> Runtimes { get; init; }

    /// <summary>Each runtime's settings section (e.g. the <c>process:</c> block), as JSON.</summary>
    public IReadOnlyDictionary<string, JsonElement> Settings { get; init; } = new Dictionary<string, JsonElement>();

    /// <summary>The agent's retry policy and timeouts (the <c>limits:</c> block); a request may override each member.</summary>
    public RunLimits Limits { get; init; } = new();

    /// <summary>The repository cloned into each run's workspace (a request may give its own); null: an empty workspace.</summary>
    public WorkspaceSpec? Workspace { get; init; }
}
