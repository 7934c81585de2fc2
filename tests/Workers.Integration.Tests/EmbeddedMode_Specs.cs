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
}
