using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

using Workers.Agents.Definitions;
using Workers.Agents.Runtimes;
using Workers.Agents.Runtimes.Cli;

namespace Workers.Agents.Tests.Cli;

/// <summary>CLI runtime settings in definitions files, the example agents, and registration.</summary>
public sealed class CliCatalogTests
{
    [Theory]
    [InlineData("claude-fixer", RuntimeNames.ClaudeCode)]
    [InlineData("codex-fixer", RuntimeNames.Codex)]
    [InlineData("gemini-fixer", RuntimeNames.Gemini)]
    [InlineData("cursor-fixer", RuntimeNames.Cursor)]
    public void The_example_file_has_an_agent_per_cli_runtime(string agent, string runtime)
    {
        var catalog = AgentCatalog.Load(Path.Combine(TestData.RepositoryRoot(), "examples", "agents.yaml"));

        Assert.True(catalog.TryGet(agent, out var definition));
        Assert.Equal([runtime], definition.Runtimes);
    }

    [Theory]
    [InlineData("claude-code", "permissionMode: yolo", "a.claude-code.permissionMode")]
    [InlineData("claude-code", "maxTurns: many", "a.claude-code.maxTurns")]
    [InlineData("codex", "maxTurns: 3", "a.codex.maxTurns")]
    [InlineData("codex", "sandbox: none", "a.codex.sandbox")]
    [InlineData("gemini", "approvalMode: auto", "a.gemini.approvalMode")]
    [InlineData("cursor", "force: sometimes", "a.cursor.force")]
    [InlineData("cursor", "colour: blue", "a.cursor.colour")]
    public void Bad_cli_settings_are_rejected_naming_the_field(string runtime, string setting, string field)
    {
        var yaml = $"agents:\n  a:\n    runtime: {runtime}\n    {runtime}:\n      {setting}\n";

        var error = Assert.Throws<AgentDefinitionException>(() => AgentCatalog.Parse(yaml, "agents.yaml", "/tmp"));

        Assert.Contains(field, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cli_agent_needs_no_settings_section()
    {
        var catalog = AgentCatalog.Parse("agents:\n  a:\n    runtime: claude-code\n", "agents.yaml", "/tmp");

        Assert.Single(catalog.Agents);
    }

    [Fact]
    public void Every_cli_runtime_is_registered_with_its_named_options()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Workers:Runtimes:Codex:Command"] = "/opt/codex" })
            .Build();
        var services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(configuration);
        services.AddAgentRuntimes();
        using var provider = services.BuildServiceProvider();

        var names = provider.GetServices<IAgentRuntime>().Select(r => r.Name);

        Assert.Equal(RuntimeNames.All.Order(StringComparer.Ordinal), names.Order(StringComparer.Ordinal));
        Assert.Equal("/opt/codex", provider.GetRequiredService<IOptionsMonitor<CliRuntimeOptions>>().Get(RuntimeNames.Codex).Command);
    }

    [Fact]
    public async Task Invalid_cli_runtime_options_stop_the_host_naming_the_setting()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Workers:Runtimes:Gemini:InterruptGracePeriod"] = "01:00:00" });
        builder.Services.AddAgentRuntimes();
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains("Workers:Runtimes:Gemini:InterruptGracePeriod", error.Message, StringComparison.Ordinal);
    }
}
