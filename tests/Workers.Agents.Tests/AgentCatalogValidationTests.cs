using Workers.Agents.Definitions;

namespace Workers.Agents.Tests;

public sealed class AgentCatalogValidationTests
{
    private const string Source = "examples/agents.yaml";

    private static AgentDefinitionException Invalid(string yaml) =>
        Assert.Throws<AgentDefinitionException>(() => AgentCatalog.Parse(yaml, Source));

    private static string SingleError(string yaml) => Assert.Single(Invalid(yaml).Errors);

    [Fact]
    public void Unknown_runtime_is_reported_with_file_and_field()
    {
        var error = SingleError(
            """
            agents:
              echo:
                description: Echoes.
                runtime: proces
            """);

        Assert.Equal("examples/agents.yaml: agents.echo.runtime: unknown runtime 'proces'; known runtimes: process, claude-code, codex, gemini, cursor, native (line 4, column 14)", error);
    }

    [Fact]
    public void Unknown_runtime_in_a_runtimes_list_is_reported_at_its_index()
    {
        var error = SingleError(
            """
            agents:
              echo:
                runtimes: [process, codx]
                process: { command: a }
            """);

        Assert.StartsWith("examples/agents.yaml: agents.echo.runtimes[1]: unknown runtime 'codx'; known runtimes: process", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_runtime_is_reported()
    {
        var error = SingleError(
            """
            agents:
              echo:
                description: No runtime.
            """);

        Assert.StartsWith("examples/agents.yaml: agents.echo.runtime: missing; set 'runtime: <name>'", error, StringComparison.Ordinal);
        Assert.Contains("known runtimes: process", error, StringComparison.Ordinal);
    }

    [Fact]
    public void An_agent_without_any_fields_is_missing_its_runtime()
    {
        Assert.Contains("agents.echo.runtime: missing", SingleError("agents:\n  echo:\n"), StringComparison.Ordinal);
    }

    [Fact]
    public void Process_runtime_without_its_settings_section_is_reported()
    {
        var error = SingleError(
            """
            agents:
              echo:
                runtime: process
            """);

        Assert.StartsWith("examples/agents.yaml: agents.echo.process: missing; the agent runs on 'process', which needs a 'process:' section", error, StringComparison.Ordinal);
        Assert.Contains("command", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Process_settings_without_a_command_are_reported_at_the_command_field()
    {
        var error = SingleError(
            """
            agents:
              echo:
                runtime: process
                process:
                  args: [x]
            """);

        Assert.StartsWith("examples/agents.yaml: agents.echo.process.command: is required", error, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_command_is_reported()
    {
        var error = SingleError("agents:\n  echo:\n    runtime: process\n    process:\n      command: \"\"\n");

        Assert.StartsWith("examples/agents.yaml: agents.echo.process.command: must name the executable", error, StringComparison.Ordinal);
        Assert.EndsWith("(line 5, column 16)", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("args: --flag", "agents.echo.process.args: must be a list")]
    [InlineData("args: [[nested]]", "agents.echo.process.args[0]: must be a single value")]
    [InlineData("env: [A=1]", "agents.echo.process.env: must be a mapping")]
    [InlineData("env: { A: [1] }", "agents.echo.process.env.A: must be a single value")]
    [InlineData("comand: x", "agents.echo.process.comand: unknown setting 'comand'")]
    public void Malformed_process_settings_are_reported_at_their_field(string setting, string expected)
    {
        var errors = Invalid($"agents:\n  echo:\n    runtime: process\n    process:\n      command: a\n      {setting}\n").Errors;

        Assert.Contains(errors, e => e.StartsWith($"{Source}: {expected}", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("101")]
    [InlineData("-1")]
    [InlineData("three")]
    [InlineData("2.5")]
    public void Max_attempts_outside_1_to_100_is_reported(string value)
    {
        var error = SingleError(
            $"""
            agents:
              echo:
                runtime: process
                process: {"{"} command: a {"}"}
                limits:
                  maxAttempts: {value}
            """);

        Assert.Equal(
            $"examples/agents.yaml: agents.echo.limits.maxAttempts: must be a whole number from 1 to 100 (attempts in all, the first included), got '{value}' (line 6, column 20)",
            error);
    }

    [Theory]
    [InlineData("Echo")]
    [InlineData("-echo")]
    [InlineData(".echo")]
    [InlineData("my agent")]
    [InlineData("echo/2")]
    public void Bad_agent_names_are_reported(string name)
    {
        var error = SingleError($"agents:\n  \"{name}\":\n    runtime: process\n    process: {{ command: a }}\n");

        Assert.StartsWith($"examples/agents.yaml: agents.{name}: invalid agent name '{name}'", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("echo")]
    [InlineData("0day")]
    [InlineData("a.b_c-d")]
    public void Agent_names_may_use_lowercase_letters_digits_dots_underscores_and_dashes(string name)
    {
        var catalog = AgentCatalog.Parse($"agents:\n  {name}:\n    runtime: process\n    process: {{ command: a }}\n", Source);

        Assert.Equal(name, catalog.Agents.Single().Name);
    }

    [Fact]
    public void Yaml_syntax_errors_are_reported_with_line_and_column()
    {
        var error = SingleError(
            """
            agents:
              echo:
                runtime: process
                process: { command: "unterminated }
            """);

        Assert.Matches(@"^examples/agents\.yaml: line \d+, column \d+: invalid YAML: ", error);
    }

    [Fact]
    public void A_name_defined_twice_is_a_yaml_error_with_its_line()
    {
        var error = SingleError(
            """
            agents:
              echo: { runtime: process, process: { command: a } }
              echo: { runtime: process, process: { command: b } }
            """);

        Assert.StartsWith("examples/agents.yaml: line 3, column 3: invalid YAML: Duplicate key", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_error_is_reported_together()
    {
        var exception = Invalid(
            """
            agents:
              echo:
                runtime: proces
              Bad:
                runtime: process
                process: { command: a }
              sleep:
                runtime: process
                limits: { maxAttempts: 0 }
            """);

        Assert.Collection(
            exception.Errors,
            e => Assert.Contains("agents.echo.runtime: unknown runtime 'proces'", e, StringComparison.Ordinal),
            e => Assert.Contains("agents.Bad: invalid agent name 'Bad'", e, StringComparison.Ordinal),
            e => Assert.Contains("agents.sleep.process: missing", e, StringComparison.Ordinal),
            e => Assert.Contains("agents.sleep.limits.maxAttempts: must be a whole number", e, StringComparison.Ordinal));
        Assert.StartsWith("The agent definitions have 4 errors:", exception.Message, StringComparison.Ordinal);
        Assert.All(exception.Errors, e => Assert.Contains(e, exception.Message, StringComparison.Ordinal));
    }

    [Fact]
    public void Unknown_agent_fields_are_reported()
    {
        var error = SingleError("agents:\n  echo:\n    runtmie: process\n    runtime: process\n    process: { command: a }\n");

        Assert.StartsWith("examples/agents.yaml: agents.echo.runtmie: unknown field 'runtmie'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Setting_both_runtime_and_runtimes_is_reported()
    {
        var error = SingleError("agents:\n  echo:\n    runtime: process\n    runtimes: [process]\n    process: { command: a }\n");

        Assert.StartsWith("examples/agents.yaml: agents.echo.runtimes: set either 'runtime' (one runtime) or 'runtimes' (a list), not both", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("runtime: [process]", "agents.echo.runtime: expected one runtime name")]
    [InlineData("runtimes: process", "agents.echo.runtimes: must be a list")]
    [InlineData("runtimes: []", "agents.echo.runtimes: must list at least one runtime")]
    [InlineData("runtimes: [process, process]", "agents.echo.runtimes[1]: runtime 'process' is listed twice")]
    public void Malformed_runtime_choices_are_reported(string field, string expected)
    {
        var errors = Invalid($"agents:\n  echo:\n    {field}\n    process: {{ command: a }}\n").Errors;

        Assert.Contains(errors, e => e.StartsWith($"{Source}: {expected}", StringComparison.Ordinal));
    }

    [Fact]
    public void Unknown_limits_are_reported()
    {
        var error = SingleError("agents:\n  echo:\n    runtime: process\n    process: { command: a }\n    limits: { maxAttempt: 3 }\n");

        Assert.StartsWith("examples/agents.yaml: agents.echo.limits.maxAttempt: unknown limit 'maxAttempt'; known limits: maxAttempts", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "examples/agents.yaml: the file is empty")]
    [InlineData("# only a comment\n", "examples/agents.yaml: the file is empty")]
    [InlineData("agent:\n  echo: {}\n", "examples/agents.yaml: agent: unknown field 'agent'")]
    [InlineData("agents: {}\nx: &x { command: a }\n", "examples/agents.yaml: x: unknown field 'x'; the top level has 'agents', and 'x-…' entries")]
    [InlineData("agents:\n  echo:\n    <<: [1]\n", "examples/agents.yaml: agents.echo: the merge key '<<' takes a mapping or a list of mappings")]
    [InlineData("- echo\n", "examples/agents.yaml: (top level): must be a mapping")]
    [InlineData("agents: [echo]\n", "examples/agents.yaml: agents: must be a mapping")]
    [InlineData("agents:\n  echo: process\n", "examples/agents.yaml: agents.echo: must be a mapping")]
    public void Malformed_files_are_reported(string yaml, string expected)
    {
        var errors = Invalid(yaml).Errors;

        Assert.Contains(errors, e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void A_file_without_an_agents_entry_is_told_to_add_one()
    {
        var errors = Invalid("agent:\n  echo: {}\n").Errors;

        Assert.Contains(errors, e => e.StartsWith("examples/agents.yaml: agents: missing; define your agents under a top-level 'agents:' mapping", StringComparison.Ordinal));
    }

    [Fact]
    public void A_missing_file_names_the_path_and_the_setting_to_change()
    {
        using var directory = new TempDirectory();
        var path = Path.Combine(directory.Path, "nope", "agents.yaml");

        var error = Assert.Throws<AgentDefinitionException>(() => AgentCatalog.Load(path));

        Assert.Contains($"{path}: agent definitions file not found", error.Message, StringComparison.Ordinal);
        Assert.Contains("Workers:Agents:Path", error.Message, StringComparison.Ordinal);
        Assert.Contains("Workers__Agents__Path", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_directory_given_as_the_file_is_reported()
    {
        using var directory = new TempDirectory();

        var error = Assert.Throws<AgentDefinitionException>(() => AgentCatalog.Load(directory.Path));

        Assert.Contains("is a directory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_misspelt_runtime_is_one_error_not_also_a_complaint_about_its_settings_section()
    {
        var error = SingleError("agents:\n  echo:\n    runtime: proces\n    process: { command: a }\n");

        Assert.Contains("unknown runtime 'proces'", error, StringComparison.Ordinal);
    }
}
