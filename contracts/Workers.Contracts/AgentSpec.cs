using System.Text.Json;

namespace Workers.Contracts;

/// <summary>
/// The agent definition a run executes, resolved by the orchestrator and carried on the dispatch so that
/// workers need no copy of the definitions file and a retried attempt runs what the first one ran.
/// </summary>
public sealed record AgentSpec
{
    public string Name { get; init; } = "";

    /// <summary>The runtime chosen for this run.</summary>
    public string Runtime { get; init; } = "";

    /// <summary>Runtime-specific settings, as written in the definitions file (read by the runtime adapter).</summary>
    public JsonElement? Settings { get; init; }

    /// <summary>The repository cloned into the run's workspace (the request's, else the agent's); null: an empty workspace.</summary>
    public WorkspaceSpec? Workspace { get; init; }
}
