using Workers.Contracts;

namespace Workers.Agents.Definitions;

/// <summary>Turns a definition into what a run carries.</summary>
public static class AgentDefinitionExtensions
{
    /// <summary>
    /// The <see cref="AgentSpec"/> for a run of <paramref name="definition"/> on <paramref name="runtime"/>:
    /// its name, the runtime, that runtime's settings section and its workspace repository.
    /// </summary>
    /// <param name="definition">The agent.</param>
    /// <param name="runtime">The chosen runtime; null for the definition's default (the first it lists).</param>
    /// <exception cref="ArgumentException">The definition does not list <paramref name="runtime"/>.</exception>
    public static AgentSpec ToAgentSpec(this AgentDefinition definition, string? runtime = null)
    {
        ArgumentNullException.ThrowIfNull(definition);
        runtime ??= definition.Runtimes.Count > 0
            ? definition.Runtimes[0]
            : throw new ArgumentException($"Agent '{definition.Name}' lists no runtime.", nameof(definition));
        if (!definition.Runtimes.Contains(runtime, StringComparer.Ordinal))
        {
            throw new ArgumentException(
                $"Agent '{definition.Name}' does not run on '{runtime}'; it runs on: {string.Join(", ", definition.Runtimes)}.",
                nameof(runtime));
        }

        return new AgentSpec
        {
            Name = definition.Name,
            Runtime = runtime,
            Settings = definition.Settings.TryGetValue(runtime, out var settings) ? settings : null,
            Workspace = definition.Workspace,
        };
    }
}
