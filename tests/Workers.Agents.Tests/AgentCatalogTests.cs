using System.Text.Json;

using Workers.Agents.Definitions;
using Workers.Agents.Runtimes;

namespace Workers.Agents.Tests;

public sealed class AgentCatalogTests
{
    private const string Source = "defs/agents.yaml";

    [Fact]
    public void The_documented_format_is_read_into_definitions()
    {
        var catalog = AgentCatalog.Parse(
            """
            agents:
              echo:
                description: Echoes its input back, with a few progress events.
                runtime: process            # or: runtimes: [process, ...]
                process:
                  command: agents/echo.sh
                  args: ["--flag"]
                  env: { GREETING: hello }
                limits:
                  maxAttempts: 3
            """,
            Source,
            "/srv/defs");

        var echo = Assert.Single(catalog.Agents);
        Assert.Equal("echo", echo.Name);
        Assert.Equal("Echoes its input back, with a few progress events.", echo.Description);
        Assert.Equal([RuntimeNames.Process], echo.Runtimes);
        Assert.Equal(3, echo.Limits.MaxAttempts);

        var settings = echo.Settings[RuntimeNames.Process];
        Assert.Equal("agents/echo.sh", settings.GetProperty("command").GetString());
        Assert.Equal(["--flag"], settings.GetProperty("args").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal("hello", settings.GetProperty("env").GetProperty("GREETING").GetString());
        Assert.Equal("/srv/defs", settings.GetProperty("baseDirectory").GetString());
    }

    [Fact]
    public void Every_settings_section_gets_the_definition_file_directory_as_baseDirectory()
    {
        using var directory = new TempDirectory();
        var path = directory.WriteFile(
            "config/agents.yaml",
            """
            agents:
              a:
                runtime: process
                process: { command: a.sh }
              b:
                runtimes: [process]
                process: { command: /bin/true }
            """);

        var catalog = AgentCatalog.Load(path);

        Assert.All(
            catalog.Agents,
            agent => Assert.Equal(Path.Combine(directory.Path, "config"), agent.Settings[RuntimeNames.Process].GetProperty("baseDirectory").GetString()));
        Assert.Equal(path, catalog.Source);
    }

    [Fact]
    public void Agents_keep_the_file_order_and_are_found_by_name()
    {
        var catalog = AgentCatalog.Parse(
            """
            agents:
              zeta: { runtime: process, process: { command: z } }
              alpha: { runtime: process, process: { command: a } }
            """,
            Source);

        Assert.Equal(["zeta", "alpha"], catalog.Agents.Select(a => a.Name));
        Assert.True(catalog.TryGet("alpha", out var alpha));
        Assert.Equal("alpha", alpha.Name);
        Assert.False(catalog.TryGet("missing", out _));
    }

    [Fact]
    public void Limits_are_optional()
    {
        var catalog = AgentCatalog.Parse("agents:\n  a: { runtime: process, process: { command: a } }\n", Source);

        Assert.Null(Assert.Single(catalog.Agents).Limits.MaxAttempts);
    }

    [Fact]
    public void An_empty_agents_mapping_is_a_catalog_without_agents()
    {
        Assert.Empty(AgentCatalog.Parse("agents: {}\n", Source).Agents);
        Assert.Empty(AgentCatalog.Parse("agents:\n", Source).Agents);
    }

    [Fact]
    public void Settings_values_keep_their_written_form()
    {
        var catalog = AgentCatalog.Parse(
            """
            agents:
              a:
                runtime: process
                process:
                  command: a
                  args: [--retries, 3, --ratio, 1.10, --mode, 0755, --yes, true, --quoted, "42"]
                  env: { VERSION: 1.10, UMASK: 0022, ENABLED: true, EMPTY: "" }
            """,
            Source);

        var settings = catalog.Agents.Single().Settings[RuntimeNames.Process];
        Assert.Equal(
            ["--retries", "3", "--ratio", "1.10", "--mode", "0755", "--yes", "true", "--quoted", "42"],
            settings.GetProperty("args").EnumerateArray().Select(a => a.ValueKind == JsonValueKind.String ? a.GetString() : a.GetRawText()));
        var env = settings.GetProperty("env");
        Assert.Equal("1.10", env.GetProperty("VERSION").GetRawText());
        Assert.Equal("0022", env.GetProperty("UMASK").GetString());
        Assert.Equal(JsonValueKind.True, env.GetProperty("ENABLED").ValueKind);
        Assert.Equal("", env.GetProperty("EMPTY").GetString());
    }

    [Fact]
    public void Agents_can_share_settings_through_anchors_and_merge_keys_with_their_own_keys_winning()
    {
        var catalog = AgentCatalog.Parse(
            """
            x-shared: &shared
              command: agents/run.sh
              env: { LOG_LEVEL: info, REGION: eu }

            agents:
              a:
                runtime: process
                process:
                  <<: *shared
                  args: [--fast]
              b:
                runtime: process
                process:
                  <<: *shared
                  env: { LOG_LEVEL: debug }
            """,
            Source);

        var a = catalog.Agents.First().Settings[RuntimeNames.Process];
        var b = catalog.Agents.Last().Settings[RuntimeNames.Process];
        Assert.Equal("agents/run.sh", a.GetProperty("command").GetString());
        Assert.Equal("--fast", a.GetProperty("args")[0].GetString());
        Assert.Equal("eu", a.GetProperty("env").GetProperty("REGION").GetString());
        Assert.Equal("agents/run.sh", b.GetProperty("command").GetString());
        Assert.Equal("""{"LOG_LEVEL":"debug"}""", b.GetProperty("env").GetRawText());
    }

    [Fact]
    public void An_empty_description_is_no_description()
    {
        var catalog = AgentCatalog.Parse("agents:\n  a:\n    description:\n    runtime: process\n    process: { command: a }\n", Source);

        Assert.Null(catalog.Agents.Single().Description);
    }

    [Fact]
    public void A_runtimes_list_makes_its_first_entry_the_default_runtime()
    {
        var catalog = AgentCatalog.Parse(
            """
            agents:
              a:
                runtimes: [process]
                process: { command: a.sh }
            """,
            Source,
            "/srv");

        var spec = catalog.Agents.Single().ToAgentSpec();

        Assert.Equal("a", spec.Name);
        Assert.Equal(RuntimeNames.Process, spec.Runtime);
        Assert.Equal("a.sh", spec.Settings!.Value.GetProperty("command").GetString());
    }

    [Fact]
    public void An_agent_spec_for_a_runtime_the_agent_does_not_list_is_refused_naming_the_ones_it_does()
    {
        var definition = AgentCatalog.Parse("agents:\n  a: { runtime: process, process: { command: a } }\n", Source).Agents.Single();

        var error = Assert.Throws<ArgumentException>(() => definition.ToAgentSpec("native"));

        Assert.Contains("Agent 'a' does not run on 'native'; it runs on: process.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_example_definitions_load()
    {
        var catalog = AgentCatalog.Load(Path.Combine(TestData.RepositoryRoot(), "examples", "agents.yaml"));

        Assert.Subset(catalog.Agents.Select(a => a.Name).ToHashSet(), new HashSet<string> { "echo", "noop", "sleep", "fail" });
    }

    [Fact]
    public void A_catalog_built_in_memory_refuses_duplicate_names()
    {
        var agent = new AgentDefinition { Name = "a", Runtimes = [RuntimeNames.Process] };

        Assert.Throws<ArgumentException>(() => new AgentCatalog([agent, agent]));
    }
}
