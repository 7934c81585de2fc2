using System.Text.Json;

using Workers.Cli.Tests.Support;
using Workers.Contracts;
using Workers.Orchestrator.Api;

namespace Workers.Cli.Tests;

public sealed class WorkersCommandTests : IAsyncLifetime
{
    FakeOrchestrator fake = null!;

    public async ValueTask InitializeAsync() => fake = await FakeOrchestrator.StartAsync(TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync() => await fake.DisposeAsync();

    [Fact]
    public async Task Workers_prints_the_registry_sorted_by_id()
    {
        fake.Workers = [Worker("worker-b", "lost"), Worker("worker-a", "alive")];

        var result = await Shell.RunAsync(fake.Url, "workers");

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        var lines = result.Out.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
        Assert.Matches(@"^WORKER\s+HOST\s+STATUS\s+RUNTIMES\s+BUSY\s+UP\s+SEEN$", lines[0]);
        Assert.Matches(@"^worker-a\s+host-1\s+alive\s+native\s+1/2\s+1h\s+2s$", lines[1]);
        Assert.StartsWith("worker-b", lines[2], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Workers_lists_below_the_table_each_runtime_a_worker_cannot_offer_with_the_fix()
    {
        fake.Workers =
        [
            Worker("worker-a", "alive") with
            {
                Unavailable = [new UnavailableRuntime { Runtime = "codex", Problem = "'codex' is not on PATH", HelpUrl = "https://example.test/codex" }],
            },
        ];

        var result = await Shell.RunAsync(fake.Url, "workers");

        var lines = result.Out.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
        Assert.Equal("Runtimes not offered (prerequisite missing):", lines[^2]);
        Assert.Equal("  worker-a: codex: 'codex' is not on PATH (https://example.test/codex)", lines[^1]);
    }

    [Fact]
    public async Task Workers_json_prints_the_api_array()
    {
        fake.Workers = [Worker("worker-a", "alive")];

        var result = await Shell.RunAsync(fake.Url, "workers", "--json");

        using var document = JsonDocument.Parse(result.Out);
        Assert.Equal("worker-a", document.RootElement[0].GetProperty("workerId").GetString());
    }

    [Fact]
    public async Task Workers_says_so_when_none_is_registered()
    {
        var result = await Shell.RunAsync(fake.Url, "workers");

        Assert.Equal("no workers registered\n", result.Out.ReplaceLineEndings("\n"));
    }

    static WorkerView Worker(string id, string status) => new()
    {
        WorkerId = id,
        HostName = "host-1",
        Runtimes = ["native"],
        Slots = 2,
        ActiveRuns = 1,
        Status = status,
        StartedAt = FixedNow.Default.AddHours(-1),
        LastSeenAt = FixedNow.Default.AddSeconds(-2),
    };
}
