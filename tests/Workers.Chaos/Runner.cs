using System.Diagnostics;
using System.Globalization;

namespace Workers.Chaos;

/// <summary>Options from the command line.</summary>
public sealed record ChaosOptions(IReadOnlyList<string> Scenarios, int Runs, double AgentSeconds, double SubmitRate, TimeSpan Deadline,
    string LogDirectory, bool WriteDoc);

/// <summary>Runs one scenario end to end: fleet, load, faults, wait, checks.</summary>
public static class Runner
{
    public static async Task<ScenarioResult> RunAsync(Scenario scenario, ChaosOptions options, CancellationToken cancellationToken)
    {
        var log = (string line) => Console.WriteLine(line);
        log($"== {scenario.Name}: {options.Runs} runs of {options.AgentSeconds} s, {scenario.Orchestrators} orchestrator(s), 3 workers × 4 slots");
        if (scenario.RestartsServices)
            await Services.WaitForBenchmarkAsync(log, cancellationToken);

        await using var fleet = await ChaosFleet.StartAsync(options.AgentSeconds, cancellationToken);
        for (var i = 1; i <= scenario.Orchestrators; i++)
            await fleet.StartOrchestratorAsync($"orchestrator-{i}", cancellationToken);
        for (var i = 0; i < 3; i++)
            await fleet.StartWorkerAsync(cancellationToken);
        log($"  fleet up: vhost {fleet.Vhost.Name}, database {fleet.Database.Name}, dir {fleet.Directory}");

        // The load: a stream of runs at a steady rate, each with a client-chosen id so a retried POST is the same run.
        var ids = Enumerable.Range(0, options.Runs).Select(_ => Guid.NewGuid()).ToList();
        var accepted = new bool[ids.Count];
        var loadLength = TimeSpan.FromSeconds(options.Runs / options.SubmitRate);
        var loadStarted = DateTimeOffset.UtcNow;
        var submissions = Task.Run(async () =>
        {
            var pending = new List<Task>();
            for (var i = 0; i < ids.Count; i++)
            {
                var due = loadStarted + TimeSpan.FromSeconds(i / options.SubmitRate) - DateTimeOffset.UtcNow;
                if (due > TimeSpan.Zero)
                    await Task.Delay(due, cancellationToken);
                var index = i;
                pending.Add(Task.Run(async () =>
                    accepted[index] = await fleet.SubmitAsync(ids[index], $"job {index}", TimeSpan.FromSeconds(120), cancellationToken), cancellationToken));
            }
            await Task.WhenAll(pending);
        }, cancellationToken);

        var context = new ScenarioContext(fleet, loadStarted, loadLength, log);
        string? faultError = null;
        try
        {
            await scenario.InjectAsync(context, cancellationToken);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or BenchmarkRunningException)
        {
            faultError = e.Message;
            log($"  fault injection failed: {e.Message}");
        }
        await submissions;
        var submitted = ids.Where((_, i) => accepted[i]).ToList();
        var refused = ids.Where((_, i) => !accepted[i]).ToList();
        log($"  load submitted in {(DateTimeOffset.UtcNow - loadStarted).TotalSeconds:0.0} s: {submitted.Count} accepted, {refused.Count} never accepted");

        // Wait (bounded) until every accepted run is terminal; the database may be down for a while.
        var waitClock = Stopwatch.StartNew();
        List<RunRow> rows = [];
        DateTimeOffset? allTerminalAt = null;
        while (waitClock.Elapsed < options.Deadline)
        {
            rows = await fleet.TryRowsAsync(ids, cancellationToken) ?? rows;
            if (submitted.All(id => rows.Any(r => r.RunId == id && r.Terminal)))
            {
                allTerminalAt = DateTimeOffset.UtcNow;
                break;
            }
            await Task.Delay(500, cancellationToken);
        }
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken); // the death monitor's last poll
        rows = await fleet.TryRowsAsync(ids, cancellationToken) ?? rows;
        var result = Analysis.Check(scenario.Name, submitted, refused, rows, fleet.Executions(), context.Faults, allTerminalAt, faultError);

        var logs = Path.Combine(options.LogDirectory, scenario.Name);
        fleet.SaveLogs(logs);
        result.Print(log);
        if (!result.Healthy || result.NonSucceeded.Count > 0 || faultError is not null)
        {
            foreach (var process in fleet.EveryProcess)
                log($"  --- {process.Name} (pid {process.Pid}, exit {process.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "running"}) {process.OutputTail(25)}");
        }
        log($"  full process output and the agent log: {logs}");
        return result;
    }
}
