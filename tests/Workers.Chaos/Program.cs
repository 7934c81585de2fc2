using System.Globalization;
using System.Text.Json;
using Workers.Chaos;
using Workers.Testing;

var scenarioArg = "all";
var runs = 60;
var agentSeconds = 3.0;
var rate = 2.0;
var deadlineMinutes = 5.0;
var writeDoc = true;
for (var i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--scenario": scenarioArg = Next(); break;
        case "--runs": runs = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--agent-seconds": agentSeconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--rate": rate = double.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--deadline-minutes": deadlineMinutes = double.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--no-doc": writeDoc = false; break;
        case "-h" or "--help":
            Console.WriteLine($"""
                workers-chaos [--scenario NAME|all] [--runs N] [--agent-seconds S] [--rate RUNS_PER_S] [--deadline-minutes M] [--no-doc]
                scenarios: {string.Join(", ", Scenario.All.Select(s => s.Name))}
                Needs the solution built in Release and RABBITMQ_URL, RABBITMQ_MANAGEMENT_URL, POSTGRES_URL (see docs/chaos.md).
                """);
            return 0;
        default:
            Console.Error.WriteLine($"unknown argument {args[i]} (see --help)");
            return 2;
    }
}

var selected = scenarioArg == "all"
    ? Scenario.All.ToList()
    : scenarioArg.Split(',').Select(n => Scenario.All.FirstOrDefault(s => s.Name == n) ?? throw new ArgumentException($"no scenario '{n}'")).ToList();

var logRoot = Path.Combine(Path.GetTempPath(), "workers-chaos", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
var options = new ChaosOptions(selected.Select(s => s.Name).ToList(), runs, agentSeconds, rate, TimeSpan.FromMinutes(deadlineMinutes), logRoot, writeDoc);
Console.WriteLine($"workers-chaos: hosts from {RepoPaths.OrchestratorDll} and {RepoPaths.WorkerDll}; logs in {logRoot}");

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

var results = new List<ScenarioResult>();
var skipped = new List<string>();
foreach (var scenario in selected)
{
    try
    {
        results.Add(await Runner.RunAsync(scenario, options, cancel.Token));
    }
    catch (BenchmarkRunningException e)
    {
        Console.WriteLine($"  {scenario.Name} skipped: {e.Message}");
        skipped.Add(scenario.Name);
    }
}

Console.WriteLine();
Console.WriteLine(Report.Table(results));
foreach (var name in skipped)
    Console.WriteLine($"{name}: not run (workers-bench kept the shared services busy)");

if (writeDoc)
{
    var path = Report.Save(results);
    Console.WriteLine($"results merged into {path} and written to {Path.Combine(RepoPaths.Root, "docs", "chaos.md")}");
}
return results.All(r => r.Healthy) && skipped.Count == 0 ? 0 : 1;

namespace Workers.Chaos
{
    /// <summary>The table, and docs/chaos.md built from the latest result of each scenario.</summary>
    public static class Report
    {
        const string FindingsMarker = "<!-- findings: hand-written, kept when the tool regenerates this file -->";

        static readonly JsonSerializerOptions Json = new(JsonSerializerOptions.Web) { WriteIndented = true };

        public static string Table(IEnumerable<ScenarioResult> results)
        {
            var lines = new List<string>
            {
                "| scenario | runs | lost | overlapping | duplicates | succeeded twice | not succeeded | time to recover (fault → first start after it / last fault → all terminal) |",
                "|---|---|---|---|---|---|---|---|",
            };
            lines.AddRange(results.Select(r =>
                $"| {r.Scenario} | {r.Runs} | {r.Lost.Count} | {r.Overlapping.Count} | {r.Duplicates.Count} | {r.SucceededTwice.Count} | {r.NonSucceeded.Count} | {r.Recovery} |"));
            return string.Join(Environment.NewLine, lines);
        }

        /// <summary>
        /// Merges these results into docs/chaos-results.json (latest per scenario) and regenerates docs/chaos.md from it. The
        /// file is kept in the repository, so running one scenario on a fresh machine keeps the others' latest rows.
        /// </summary>
        public static string Save(IReadOnlyList<ScenarioResult> results)
        {
            var store = Path.Combine(RepoPaths.Root, "docs", "chaos-results.json");
            var all = File.Exists(store) ? JsonSerializer.Deserialize<List<ScenarioResult>>(File.ReadAllText(store), Json) ?? [] : [];
            all.RemoveAll(r => results.Any(n => n.Scenario == r.Scenario));
            all.AddRange(results);
            var order = Scenario.All.Select(s => s.Name).ToList();
            all = all.OrderBy(r => order.IndexOf(r.Scenario)).ToList();
            File.WriteAllText(store, JsonSerializer.Serialize(all, Json));
            // Hand-written notes below the findings marker survive regeneration.
            var doc = Path.Combine(RepoPaths.Root, "docs", "chaos.md");
            var old = File.Exists(doc) ? File.ReadAllText(doc) : "";
            var marker = old.IndexOf(FindingsMarker, StringComparison.Ordinal);
            File.WriteAllText(doc, Document(all) + Environment.NewLine + (marker >= 0 ? old[marker..] : FindingsMarker + Environment.NewLine));
            return store;
        }

        static string Document(List<ScenarioResult> results)
        {
            var machine = $"{Environment.MachineName}, {Environment.ProcessorCount} CPUs, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}";
            var details = string.Join(Environment.NewLine, results.Select(r =>
            {
                var items = r.Faults.Select(f => $"- fault: {f}")
                    .Concat(r.FaultError is null ? [] : [$"- fault injection error: {r.FaultError}"])
                    .Concat([$"- {r.Executions} executions ({r.KilledExecutions} killed before their end), {r.Retried} runs needed more than one attempt ({r.SpentAnAttempt} spending one of their budget; a handed-back attempt does not count), {r.NeverAccepted} submissions never accepted by the API"])
                    .Concat(r.Lost.Select(x => $"- lost: {x}"))
                    .Concat(r.Overlapping.Select(x => $"- overlapping: {x}"))
                    .Concat(r.Duplicates.Select(x => $"- duplicate: {x}"))
                    .Concat(r.NonSucceeded.Take(10).Select(x => $"- not succeeded: {x}"))
                    .Concat(r.NonSucceeded.Count > 10 ? [$"- … {r.NonSucceeded.Count - 10} more not succeeded"] : [])
                    .Concat(r.RetriedRuns.Take(10).Select(x => $"- retried: {x}"))
                    .Concat(r.RetriedRuns.Count > 10 ? [$"- … {r.RetriedRuns.Count - 10} more retried"] : []);
                return $"### {r.Scenario} (measured {r.MeasuredAt:yyyy-MM-dd HH:mm} UTC)\n\n{string.Join("\n", items)}\n";
            }));
            return $"""
                # Chaos tests

                `tests/Workers.Chaos` (`workers-chaos`) starts a real distributed fleet — orchestrator and worker **processes**
                on RabbitMQ and PostgreSQL, each scenario in its own vhost and database — streams runs of a `count` agent at
                it, injects a fault mid-load, waits (bounded) until every run is terminal and checks that none was lost and
                none executed twice at once.

                ## How to run

                ```bash
                dotnet build -c Release Workers.sln          # the hosts are taken from the Release build
                export RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672/ RABBITMQ_MANAGEMENT_URL=http://guest:guest@127.0.0.1:15672/
                export POSTGRES_URL="Host=127.0.0.1;Port=5432;Username=workers;Password=workers;Database=postgres"
                dotnet run -c Release --project tests/Workers.Chaos -- --scenario all --runs 60
                ```

                Options: `--scenario kill-worker|restart-rabbitmq|restart-postgres|kill-orchestrator|all` (comma-separated
                list allowed), `--runs N` (default 60), `--agent-seconds S` (default 3), `--rate R` runs submitted per second
                (default 2, so 60 runs stream over 30 s), `--deadline-minutes M` (default 5), `--no-doc`. The exit code is 1
                if any run was lost or overlapped (or a scenario could not run). `restart-rabbitmq` and `restart-postgres`
                run `service … restart` on the machine's shared servers (root needed), and first wait (polling every 10 s, up
                to 10 min) while a `workers-bench` process is running. Every process's full output and the agent's
                execution log are kept under `$TMPDIR/workers-chaos/<timestamp>/<scenario>/`; this file is regenerated
                from the latest result of each scenario, kept in [chaos-results.json](chaos-results.json).

                ## Scenarios

                Every scenario: orchestrator(s) and three workers with 4 slots each; runs of ~3 s submitted at a steady
                rate through the HTTP API with a client-chosen `runId` (a POST that fails is retried, on any live
                orchestrator, for up to 2 min: the same id makes it the same submission).

                | scenario | fault |
                |---|---|
                | `kill-worker` | at 20 %, 50 % and 80 % of the load, `kill -9` the worker with the most `Running` runs (its whole process tree, agents included, as a container death would); a replacement worker is started after each kill |
                | `restart-rabbitmq` | at 40 % of the load, `service rabbitmq-server restart` |
                | `restart-postgres` | at 40 % of the load, `service postgresql restart` |
                | `kill-orchestrator` | two orchestrators; at 30 % `kill -9` one; at 60 % `kill -9` the other as well (none left), then start one again |

                ## The columns

                - **runs**: runs the API accepted (`202`).
                - **lost**: accepted runs that were not in a terminal state (`Succeeded`, `Failed`, `Cancelled`, `Rejected`) in
                  the `runs` table by the deadline, or that had no row at all.
                - **overlapping**: runs with two executions whose [start, end] intervals overlap. The agent logs a line when it
                  starts and another when it ends; an execution killed before its end has no end line, so its end is the
                  moment the chaos tool saw its process gone (polled every 50 ms).
                - **duplicates**: runs whose execution ran to its end more than once (the work was done twice, even if never at once).
                - **succeeded twice**: duplicates where two *different attempts* each finished with a result and the row says
                  `Succeeded` — the work of a run the system retried was nevertheless completed by the earlier attempt too.
                - **not succeeded**: terminal runs in another state (their reasons are listed below).
                - **time to recover**: for each fault, the time from the fault to the first execution that started after it
                  (in brackets: to the first execution of a retried attempt, attempt > 1, that started after it — for a killed
                  worker that is when its runs came back); then the time from the last fault until every run was terminal.
                  A service restart counts as two points: when `service … restart` began and when it returned ("back").

                ## Results

                Machine: {machine}. Each row is the latest run of that scenario on this machine (`--runs` as shown).
                Note: the machine is shared (a benchmark may run on the same servers), so times are indicative.

                {Table(results)}

                {details}
                """;
        }
    }
}
