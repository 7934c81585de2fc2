using System.Net.Http.Json;
using System.Text.Json;
using Workers.Orchestrator.Api;
using Workers.Testing;

namespace Workers.Integration.Tests;

/// <summary>The embedded default: <c>workers dev</c> in one process, used from another.</summary>
public sealed class EmbeddedMode_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Workers_dev_runs_a_run_submitted_with_wait_from_another_process()
    {
        var directory = Directory.CreateTempSubdirectory("workers-dev-").FullName;
        try
        {
            var api = $"http://127.0.0.1:{FreePort.Get()}";
            var options = new ManagedProcessOptions { Name = "dev", WorkingDirectory = directory, Log = TestOutput.ForCurrentTest() };
            // The embedded mode needs no broker or database: make sure none is inherited.
            options.Environment["RABBITMQ_URL"] = null;
            options.Environment["POSTGRES_URL"] = null;
            await using var dev = ManagedProcess.StartDotnet(RepoPaths.CliDll,
                ["dev", "--urls", api, "--agents", RepoPaths.AgentsYaml, "--data", Path.Combine(directory, "workers.db")], options);
            await dev.WaitForHttpOkAsync(new Uri($"{api}/health/ready"), TimeSpan.FromSeconds(60), Ct);

            await using var submit = ManagedProcess.StartDotnet(RepoPaths.CliDll,
                ["submit", "--agent", "echo", "--input", "hello from another process", "--priority", "4", "--wait", "--timeout", "60", "--api", api],
                new ManagedProcessOptions { Name = "submit", Log = TestOutput.ForCurrentTest() });
            var exit = await submit.WaitForExitAsync(TimeSpan.FromSeconds(90), Ct);

            Assert.True(exit == 0, $"submit --wait exited {exit}:\n{submit.OutputTail()}\n--- dev ---\n{dev.OutputTail()}");
            Assert.Contains(submit.Output, line => line.Contains("hello from another process", StringComparison.Ordinal));
            Assert.True(File.Exists(Path.Combine(directory, "workers.db")), "the embedded mode keeps its saga table in SQLite");

            await using var failing = ManagedProcess.StartDotnet(RepoPaths.CliDll,
                ["submit", "--agent", "fail", "--input", "x", "--wait", "--timeout", "60", "--api", api],
                new ManagedProcessOptions { Name = "submit-fail", Log = TestOutput.ForCurrentTest() });
            Assert.Equal(1, await failing.WaitForExitAsync(TimeSpan.FromSeconds(90), Ct));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task In_the_embedded_mode_claims_and_results_overtake_a_backlog_of_submissions()
    {
        // The in-memory bus has no priorities. Each submission is held 2 s on its way into the saga (fault injection), so
        // 160 of them, 32 at a time, take it about 10 s. The first runs' claims and results come after their own
        // submissions but must not queue behind the other submissions.
        var directory = Directory.CreateTempSubdirectory("workers-dev-").FullName;
        try
        {
            var api = new Uri($"http://127.0.0.1:{FreePort.Get()}/");
            var options = new ManagedProcessOptions { Name = "dev", WorkingDirectory = directory, Log = TestOutput.ForCurrentTest() };
            options.Environment["RABBITMQ_URL"] = null;
            options.Environment["POSTGRES_URL"] = null;
            options.Environment["Workers__FaultInjection__DelayConsuming"] = "SubmitRun";
            options.Environment["Workers__FaultInjection__DelayConsumingBy"] = "00:00:02";
            await using var dev = ManagedProcess.StartDotnet(RepoPaths.CliDll,
                ["dev", "--urls", api.AbsoluteUri.TrimEnd('/'), "--agents", RepoPaths.AgentsYaml, "--data", Path.Combine(directory, "workers.db"), "--slots", "8"],
                options);
            await dev.WaitForHttpOkAsync(new Uri(api, "health/ready"), TimeSpan.FromSeconds(60), Ct);
            using var http = new HttpClient { BaseAddress = api };

            var ids = new List<Guid>();
            foreach (var chunk in Enumerable.Range(0, 160).Chunk(16))
            {
                ids.AddRange(await Task.WhenAll(chunk.Select(async i =>
                {
                    using var response = await http.PostAsJsonAsync("api/runs", new SubmitRunRequest { Agent = "noop", Input = $"run {i}" }, Ct);
                    response.EnsureSuccessStatusCode();
                    return (await response.Content.ReadFromJsonAsync<RunAccepted>(JsonSerializerOptions.Web, Ct))!.RunId;
                })));
            }

            var runs = new List<RunView>();
            var deadline = DateTime.UtcNow.AddMinutes(2);
            foreach (var id in ids)
            {
                while (true)
                {
                    // 404 until the saga has taken the submission in.
                    using var response = await http.GetAsync(new Uri($"api/runs/{id}", UriKind.Relative), Ct);
                    var run = response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<RunView>(JsonSerializerOptions.Web, Ct) : null;
                    if (run?.FinishedAt is not null)
                    {
                        runs.Add(run);
                        break;
                    }
                    Assert.True(DateTime.UtcNow < deadline, $"run {id} is still {run?.State ?? "not taken in"} after 2 minutes.\n{dev.OutputTail()}");
                    await Task.Delay(200, Ct);
                }
            }

            Assert.All(runs, r => Assert.Equal("Succeeded", r.State));
            // Behind the submissions, the first run would end only once nearly all of them were in (each round of 32 takes
            // 2 s); ahead of them, it ends while the first rounds are still being taken in.
            var firstFinished = runs.Min(r => r.FinishedAt!.Value);
            var inBefore = runs.Count(r => r.SubmittedAt < firstFinished);
            TestContext.Current.TestOutputHelper?.WriteLine($"the first run finished at {firstFinished:HH:mm:ss.fff}, when {inBefore} of {runs.Count} submissions were in");
            Assert.True(inBefore <= runs.Count / 2,
                $"the first run finished only when {inBefore} of {runs.Count} submissions were in: its claim or result waited behind them");
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }
    }
}
