using System.Diagnostics;
using System.Text.RegularExpressions;

using Microsoft.Extensions.Configuration;

using Workers.Cli.Dev;
using Workers.Cli.Tests.Support;

namespace Workers.Cli.Tests;

public sealed partial class DevCommandTests
{
    [Fact]
    public void Agents_default_to_examples_agents_yaml_found_by_walking_up()
    {
        var root = Directory.CreateTempSubdirectory("workers-dev-").FullName;
        var examples = Directory.CreateDirectory(Path.Combine(root, "examples")).FullName;
        File.WriteAllText(Path.Combine(examples, "agents.yaml"), "agents: []");
        var deep = Directory.CreateDirectory(Path.Combine(root, "src", "app")).FullName;

        var settings = DevSettings.Resolve(null, null, null, null, deep);

        Assert.Equal(Path.Combine(examples, "agents.yaml"), settings.AgentsPath);
    }

    [Fact]
    public void Agents_fall_back_to_agents_yaml_in_the_current_directory()
    {
        var directory = Directory.CreateTempSubdirectory("workers-dev-").FullName;

        Assert.Equal(Path.Combine(directory, "agents.yaml"), DevSettings.FindAgentsFile(directory));
    }

    [Fact]
    public void Relative_paths_resolve_against_the_current_directory()
    {
        var settings = DevSettings.Resolve(null, "my/agents.yaml", null, null, "/home/me/project");

        Assert.Equal("http://127.0.0.1:5080", settings.Urls);
        Assert.Equal("/home/me/project/my/agents.yaml", settings.AgentsPath);
        Assert.Equal("/home/me/project/.workers/workers.db", settings.DataPath);
    }

    [Fact]
    public void The_embedded_fleet_runs_on_the_in_memory_bus_and_sqlite()
    {
        var overrides = new DevSettings("http://127.0.0.1:5080", "/a/agents.yaml", "/d/workers.db", null).ConfigurationOverrides();

        Assert.Equal("InMemory", overrides["Workers:Bus:Transport"]);
        Assert.Equal("Sqlite", overrides["Workers:Store:Provider"]);
        Assert.Equal("Data Source=/d/workers.db", overrides["Workers:Store:ConnectionString"]);
        Assert.Equal("/a/agents.yaml", overrides["Workers:Agents:Path"]);
        Assert.False(overrides.ContainsKey("Workers:Worker:Slots"));
    }

    [Fact]
    public void Slots_are_set_only_when_given()
    {
        var overrides = new DevSettings("u", "a", "/d/w.db", 3).ConfigurationOverrides();

        Assert.Equal("3", overrides["Workers:Worker:Slots"]);
    }

    [Fact]
    public void The_builder_applies_the_overrides_over_other_configuration_and_creates_the_data_directory()
    {
        var directory = Directory.CreateTempSubdirectory("workers-dev-").FullName;
        var settings = new DevSettings("http://127.0.0.1:0", Path.Combine(directory, "agents.yaml"), Path.Combine(directory, "data", "w.db"), 2);

        var builder = DevHost.CreateBuilder(settings, directory);

        Assert.True(Directory.Exists(Path.Combine(directory, "data")));
        Assert.Equal("InMemory", builder.Configuration["Workers:Bus:Transport"]);
        Assert.Equal("2", builder.Configuration["Workers:Worker:Slots"]);
        Assert.Equal("Warning", builder.Configuration["Logging:LogLevel:Microsoft.AspNetCore"]);
    }

    [Fact]
    public void The_embedded_fleet_reads_its_configuration_files_once_and_watches_nothing()
    {
        // A file watcher on the working directory would see every write of the SQLite store kept below it.
        var directory = Directory.CreateTempSubdirectory("workers-dev-").FullName;
        var settings = new DevSettings("http://127.0.0.1:0", Path.Combine(directory, "agents.yaml"), Path.Combine(directory, "data", "w.db"), 2);

        var builder = DevHost.CreateBuilder(settings, directory);

        var files = ((IConfigurationBuilder)builder.Configuration).Sources.OfType<FileConfigurationSource>().ToList();
        Assert.NotEmpty(files);
        Assert.All(files, source => Assert.False(source.ReloadOnChange, $"{source.Path} is reloaded on change"));
    }

    [Theory]
    [InlineData("http://127.0.0.1:5080", "http://127.0.0.1:5080/")]
    [InlineData("http://0.0.0.0:5080", "http://127.0.0.1:5080/")]
    [InlineData("http://[::]:5081", "http://127.0.0.1:5081/")]
    [InlineData("http://+:5082", "http://127.0.0.1:5082/")]
    [InlineData("https://localhost:5001;http://*:5083", "http://127.0.0.1:5083/")]
    public void Clients_reach_a_wildcard_binding_through_loopback_preferring_http(string bound, string expected)
    {
        Assert.Equal(new Uri(expected), DevHost.ClientUrl(bound.Split(';')));
    }

    [Fact]
    public async Task Dev_serves_the_api_runs_the_demo_and_stops_cleanly_on_cancel()
    {
        var data = Path.Combine(Directory.CreateTempSubdirectory("workers-dev-").FullName, "state", "workers.db");
        var agents = DevSettings.FindAgentsFile(AppContext.BaseDirectory);
        Assert.SkipUnless(File.Exists(agents), $"the repository's examples/agents.yaml is not above {AppContext.BaseDirectory}");
        var output = new SharedTextWriter();
        var error = new SharedTextWriter();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);

        var dev = WorkersCli.InvokeAsync(
            ["dev", "--urls", "http://127.0.0.1:0", "--agents", agents, "--data", data, "--demo"],
            Shell.Context(output, error),
            stop.Token);

        var api = await WaitForAsync(() => ApiUrl().Match(output.ToString()) is { Success: true } m ? new Uri(m.Groups[1].Value) : null, dev, output, error);
        await WaitForAsync(() => Regex.Count(output.ToString(), " submitted ") >= DemoRunner.Requests.Count ? "" : null, dev, output, error);
        // The API accepts before the saga stores a run: wait until every demo run is listed.
        CliResult? listed = null;
        await WaitForAsync(() => listed is { ExitCode: 0 } && Regex.Count(listed.Out, "\"runId\"") == DemoRunner.Requests.Count ? "" : null, dev, output, error,
            async () => listed = await Shell.RunAsync(api, "runs", "list", "--json"));
        await stop.CancelAsync();
        var exitCode = await dev.WaitAsync(TimeSpan.FromSeconds(40), TestContext.Current.CancellationToken);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.True(File.Exists(data));
        Assert.Contains("workers dev stopped", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dev_reports_a_port_in_use_in_one_line_and_exits_5()
    {
        await using var fake = await FakeOrchestrator.StartAsync(TestContext.Current.CancellationToken);
        var directory = Directory.CreateTempSubdirectory("workers-dev-").FullName;
        var agents = DevSettings.FindAgentsFile(AppContext.BaseDirectory);

        var result = await Shell.RunAsync(["dev", "--urls", fake.Url.AbsoluteUri, "--agents", agents, "--data", Path.Combine(directory, "w.db")],
            cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(ExitCodes.HostFailed, result.ExitCode);
        Assert.StartsWith("workers dev could not start: ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dev_without_an_agents_file_is_a_usage_error_saying_where_it_looked()
    {
        var directory = Directory.CreateTempSubdirectory("workers-dev-").FullName;

        var result = await Shell.RunAsync(["dev", "--data", Path.Combine(directory, "w.db")], currentDirectory: directory,
            cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains($"no agents file: there is no examples/agents.yaml in {directory} or a parent", result.Error, StringComparison.Ordinal);
        Assert.Contains("pass --agents PATH", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dev_reports_a_broken_agents_file_in_one_line_and_exits_5()
    {
        var directory = Directory.CreateTempSubdirectory("workers-dev-").FullName;
        var agents = Path.Combine(directory, "agents.yaml");
        await File.WriteAllTextAsync(agents, "agents:\n  broken: [\n", TestContext.Current.CancellationToken);

        var result = await Shell.RunAsync(["dev", "--urls", "http://127.0.0.1:0", "--agents", agents, "--data", Path.Combine(directory, "w.db")],
            cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(ExitCodes.HostFailed, result.ExitCode);
        Assert.StartsWith($"workers dev could not start: {agents}", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
    }

    static async Task<T> WaitForAsync<T>(Func<T?> probe, Task<int> dev, SharedTextWriter output, SharedTextWriter error, Func<Task>? refresh = null)
        where T : class
    {
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (refresh is not null)
                await refresh();
            if (probe() is { } value)
                return value;
            if (dev.IsCompleted)
                Assert.Fail($"dev exited early with {await dev}\n{output}\n{error}");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
        Assert.Fail($"timed out\n{output}\n{error}");
        return null!;
    }

    [GeneratedRegex(@"API\s+(http://\S+)")]
    private static partial Regex ApiUrl();
}
