using System.Text.Json;
using System.Text.Json.Nodes;

using Workers.Agents.Definitions;
using Workers.Agents.Runtimes;
using Workers.Agents.Runtimes.Native;
using Workers.Testing;

namespace Workers.Agents.Tests.Native;

/// <summary>Native agent definitions: checked when the file loads (file, field, line), and the examples work.</summary>
public sealed class NativeCatalogTests
{
    private const string Source = "agents.yaml";

    [Fact]
    public void Invalid_native_settings_are_reported_with_file_field_and_line()
    {
        var errors = Assert.Throws<AgentDefinitionException>(() => AgentCatalog.Parse(
            """
            agents:
              coder:
                runtime: native
                native:
                  provider: gemini
                  baseUrl: localhost:8080
                  apiKey: sk-1
                  apiKeyEnv: KEY
                  tools: [read_file, delete_everything]
                  maxSteps: 0
                  maxCostUsd: cheap
                  mcpServers:
                    git: { args: [serve] }
                    "bad name": { command: x }
                  colour: blue
            """,
            Source)).Errors;

        Assert.Contains(errors, e => e.StartsWith("agents.yaml: agents.coder.native.provider: must be 'openai'", StringComparison.Ordinal) && e.EndsWith("(line 5, column 17)", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("agents.yaml: agents.coder.native.baseUrl: must be an absolute http or https URL", StringComparison.Ordinal) && e.Contains("(line 6,", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("agents.yaml: agents.coder.native.tools[1]: must be one of the built-in tools", StringComparison.Ordinal) && e.Contains("(line 9,", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("agents.yaml: agents.coder.native.maxSteps: must be a whole number from 1 to 10000", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("agents.yaml: agents.coder.native.maxCostUsd: must be a number", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("agents.yaml: agents.coder.native.mcpServers.git: needs exactly one of 'command'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("agents.yaml: agents.coder.native.mcpServers.bad name: server names may use", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("agents.yaml: agents.coder.native.colour: unknown setting 'colour'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("agents.yaml: agents.coder.native.model: is required", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("agents.yaml: agents.coder.native.apiKey: set at most one of", StringComparison.Ordinal));
    }

    [Fact]
    public void A_minimal_definition_gets_the_providers_defaults()
    {
        var catalog = AgentCatalog.Parse(
            """
            agents:
              claude:
                runtime: native
                native: { provider: anthropic, model: claude-sonnet-4-5 }
            """,
            Source);

        Assert.True(catalog.TryGet("claude", out var definition));
        var settings = NativeSettings.Parse(definition.Settings[RuntimeNames.Native], []);
        Assert.NotNull(settings);
        Assert.Equal(new Uri("https://api.anthropic.com"), settings.BaseUrl);
        Assert.Equal("ANTHROPIC_API_KEY", settings.ApiKey.Variable);
        Assert.Equal(NativeSettings.DefaultMaxSteps, settings.MaxSteps);
        Assert.Equal(6, settings.Tools.Count);
    }

    [Theory]
    [InlineData("native-openai", "openai", "OPENAI_API_KEY")]
    [InlineData("native-anthropic", "anthropic", "ANTHROPIC_API_KEY")]
    public async Task The_example_agents_work_once_a_key_is_supplied(string agent, string provider, string keyVariable)
    {
        var examples = AgentCatalog.Load(Path.Combine(TestData.RepositoryRoot(), "examples", "agents.yaml"));
        Assert.True(examples.TryGet(agent, out var definition));
        var spec = definition.ToAgentSpec();
        Assert.Equal(RuntimeNames.Native, spec.Runtime);

        // The example as written, pointed at the fake server, with the key taken from a variable of this test's own.
        using var h = new NativeHarness();
        var settings = JsonNode.Parse(spec.Settings!.Value.GetRawText())!.AsObject();
        Assert.Equal(provider, (string?)settings["provider"]);
        Assert.Equal(keyVariable, (string?)settings["apiKeyEnv"]);
        settings["baseUrl"] = provider == "openai" ? h.Server.OpenAiBaseUrl.AbsoluteUri : h.Server.BaseUrl.AbsoluteUri;
        var variable = "WORKERS_TEST_KEY_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(variable, "sk-example");
        settings["apiKeyEnv"] = variable;
        h.Server
            .Then(provider == "openai"
                ? OpenAiWire.ToolCalls(10, 1, ("1", "write_file", new { path = "x.txt", content = "x" }))
                : AnthropicWire.ToolUses(10, 1, ("1", "write_file", new { path = "x.txt", content = "x" })))
            .Then(provider == "openai" ? OpenAiWire.Text("wrote x.txt") : AnthropicWire.Text("wrote x.txt"));

        var outcome = await h.RunAsync(JsonSerializer.Deserialize<JsonElement>(settings.ToJsonString()), "Write x.txt.");

        Assert.Equal(new AgentOutcome.Succeeded("wrote x.txt"), outcome);
        Assert.True(File.Exists(Path.Combine(h.Workspace, "x.txt")));
        Assert.Equal("Bearer sk-example", h.Server.Requests[0].Authorization);
    }
}
