using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

using Workers.Agents.Definitions;
using Workers.Agents.Runtimes;

namespace Workers.Agents.Tests;

public sealed class RegistrationTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private static IHost BuildHost(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddAgentCatalog();
        builder.Services.AddAgentRuntimes();
        return builder.Build();
    }

    [Fact]
    public async Task The_catalog_is_read_from_the_configured_path()
    {
        var path = _directory.WriteFile("agents.yaml", "agents:\n  echo: { runtime: process, process: { command: echo.sh } }\n");
        using var host = BuildHost(new() { ["Workers:Agents:Path"] = path });

        await host.StartAsync(TestContext.Current.CancellationToken);

        var catalog = host.Services.GetRequiredService<IAgentCatalog>();
        Assert.Equal("echo", Assert.Single(catalog.Agents).Name);
        await host.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task An_invalid_definitions_file_stops_the_host_at_start_with_the_file_and_field()
    {
        var path = _directory.WriteFile("agents.yaml", "agents:\n  echo:\n    runtime: proces\n");
        using var host = BuildHost(new() { ["Workers:Agents:Path"] = path });

        var error = await Assert.ThrowsAsync<AgentDefinitionException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Equal($"{path}: agents.echo.runtime: unknown runtime 'proces'; known runtimes: process, claude-code, codex, gemini, cursor, native (line 3, column 14)", error.Message);
    }

    [Fact]
    public async Task A_missing_definitions_file_stops_the_host_naming_the_setting()
    {
        var path = Path.Combine(_directory.Path, "missing.yaml");
        using var host = BuildHost(new() { ["Workers:Agents:Path"] = path });

        var error = await Assert.ThrowsAsync<AgentDefinitionException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("Workers:Agents:Path", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_path_or_an_agents_yaml_in_the_current_directory_the_host_is_told_which_setting_to_set()
    {
        Assert.False(File.Exists(AgentCatalogOptions.DefaultFileName), "the test expects no agents.yaml in the current directory");
        using var host = BuildHost([]);

        var error = await Assert.ThrowsAsync<AgentDefinitionException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.StartsWith("No agent definitions file: Workers:Agents:Path is not set and there is no agents.yaml in the current directory", error.Message, StringComparison.Ordinal);
        Assert.Contains("Workers__Agents__Path", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_catalog_is_not_read_before_it_is_first_used()
    {
        var path = _directory.WriteFile("agents.yaml", "agents:\n  first: { runtime: process, process: { command: a } }\n");
        using var host = BuildHost(new() { ["Workers:Agents:Path"] = path });
        File.WriteAllText(path, "agents:\n  second: { runtime: process, process: { command: a } }\n");

        var catalog = host.Services.GetRequiredService<IAgentCatalog>();

        Assert.Equal("second", Assert.Single(catalog.Agents).Name);
        Assert.Same(catalog, host.Services.GetRequiredService<IAgentCatalog>());
    }

    [Fact]
    public void Each_runtime_is_registered_once_even_if_runtimes_are_added_twice()
    {
        var services = new ServiceCollection().AddLogging().AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddAgentRuntimes();
        services.AddAgentRuntimes();
        using var provider = services.BuildServiceProvider();

        var runtimes = provider.GetServices<IAgentRuntime>().ToList();

        // Each runtime once, however often the registration runs.
        Assert.Equal(RuntimeNames.All.Order(StringComparer.Ordinal), runtimes.Select(r => r.Name).Order(StringComparer.Ordinal));
        Assert.Equal(RuntimeNames.Process, Assert.Single(runtimes.OfType<ProcessRuntime>()).Name);
    }

    [Theory]
    [InlineData("TerminationGracePeriod", "-00:00:01")]
    [InlineData("TerminationGracePeriod", "01:00:00")]
    [InlineData("MaxOutputLength", "10")]
    public async Task Invalid_process_runtime_options_stop_the_host_naming_the_setting(string setting, string value)
    {
        var path = _directory.WriteFile("agents.yaml", "agents: {}\n");
        using var host = BuildHost(new() { ["Workers:Agents:Path"] = path, [$"Workers:Runtimes:Process:{setting}"] = value });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains($"Workers:Runtimes:Process:{setting}", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("MaxRetries", "50")]
    [InlineData("CallTimeout", "00:00:00")]
    [InlineData("CircuitBreakerFailureRatio", "2")]
    [InlineData("MaxCheckpointLength", "10")]
    public async Task Invalid_native_runtime_options_stop_the_host_naming_the_setting(string setting, string value)
    {
        var path = _directory.WriteFile("agents.yaml", "agents: {}\n");
        using var host = BuildHost(new() { ["Workers:Agents:Path"] = path, [$"Workers:Runtimes:Native:{setting}"] = value });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains($"Workers:Runtimes:Native:{setting}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_native_runtime_is_registered_with_its_price_table()
    {
        var path = _directory.WriteFile("agents.yaml", "agents: {}\n");
        using var host = BuildHost(new()
        {
            ["Workers:Agents:Path"] = path,
            ["Workers:Runtimes:Native:Prices:gpt-4o-mini:InputPerMillionTokens"] = "0.15",
            ["Workers:Runtimes:Native:Prices:gpt-4o-mini:OutputPerMillionTokens"] = "0.6",
        });

        var runtime = Assert.Single(host.Services.GetServices<IAgentRuntime>(), r => r.Name == RuntimeNames.Native);
        Assert.True(runtime.SupportsCheckpoints);
        var price = host.Services.GetRequiredService<IOptions<Workers.Agents.Runtimes.Native.NativeRuntimeOptions>>().Value.Prices["gpt-4o-mini"];
        Assert.Equal(0.75m, price.Cost(1_000_000, 1_000_000));
    }
}
