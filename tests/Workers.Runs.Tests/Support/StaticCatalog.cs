using System.Text.Json;
using Workers.Agents.Definitions;
using Workers.Contracts;

namespace Workers.Runs.Tests.Support;

/// <summary>
/// A fixed agent catalog: <c>echo</c> (process), <c>strict</c> (process, one attempt), <c>multi</c> (runtimes
/// <c>alpha</c> then <c>process</c>) and <c>patient</c> (its own retry policy and timeouts).
/// </summary>
public sealed class StaticCatalog : IAgentCatalog
{
    readonly Dictionary<string, AgentDefinition> _agents = new()
    {
        ["echo"] = new AgentDefinition
        {
            Name = "echo",
            Runtimes = ["process"],
            Settings = new Dictionary<string, JsonElement> { ["process"] = JsonSerializer.SerializeToElement(new { command = "echo.sh" }) },
        },
        ["strict"] = new AgentDefinition { Name = "strict", Runtimes = ["process"], Limits = new RunLimits { MaxAttempts = 1 } },
        ["multi"] = new AgentDefinition { Name = "multi", Runtimes = ["alpha", "process"] },
        ["patient"] = new AgentDefinition
        {
            Name = "patient",
            Runtimes = ["process"],
            Limits = new RunLimits
            {
                MaxAttempts = 2,
                RetryInitialDelay = TimeSpan.FromSeconds(5),
                RetryMaxDelay = TimeSpan.FromSeconds(20),
                NonRetryableErrors = ["exit-code"],
                StartToCloseTimeout = TimeSpan.FromMinutes(10),
                ScheduleToStartTimeout = TimeSpan.FromHours(1),
            },
        },
    };

    public IReadOnlyCollection<AgentDefinition> Agents => _agents.Values;

    public bool TryGet(string name, out AgentDefinition definition) => _agents.TryGetValue(name, out definition!);
}
