using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

using MassTransit;

using Workers.Testing;

namespace Workers.Benchmarks;

/// <summary>
/// W1 in the embedded mode: one <c>workers dev</c> process (orchestrator, API and one worker over the in-memory bus, saga state in
/// SQLite) from the Release build, the same no-op runs submitted over its HTTP API, completion seen through <c>GET /api/stats</c>.
/// </summary>
public static class EmbeddedRound
{
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);
    static readonly string[] Terminal = ["Succeeded", "Failed", "Cancelled", "Rejected", "TimedOut"];

    public static string Title =>
        "W1 in the embedded mode: `workers dev --slots <workers × slots>` (orchestrator, API and one worker in one process: in-memory bus, " +
        "SQLite saga store in the round's directory), `--runs` no-op runs submitted with `POST /api/runs` (`--in-flight` requests at once), " +
        $"done when `GET /api/stats` (polled every {Poll.TotalMilliseconds:0} ms) counts them all terminal, after `--warmup-runs` submitted the same way and run to their end. Same agent and total slots as the distributed W1.";

    public static async Task<Dictionary<Figure, double>> RunAsync(BenchmarkOptions options, HostBuild hosts, int round, TextWriter progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(hosts);
        ArgumentNullException.ThrowIfNull(progress);
        if (hosts.CliDll is null)
            throw new InvalidOperationException($"the workers CLI is not built in Release ({RepoPaths.CliDll}); build the solution first");
        var n = options.Runs;
        var slots = options.Workers * options.Slots;
        var directory = Directory.CreateTempSubdirectory("workers-bench-dev-").FullName;
        var keep = options.KeepLogs;
        var port = FreePort.Get();
        var api = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/");
        var agents = BenchFleet.WriteAgents(directory);
        progress.WriteLine($"embedded round {round}: starting workers dev ({slots} slots) on {api}");
        var log = new StreamWriter(Path.Combine(directory, "dev.log"));
        var dev = ManagedProcess.StartDotnet(hosts.CliDll,
            ["dev", "--urls", api.AbsoluteUri.TrimEnd('/'), "--agents", agents, "--data", Path.Combine(directory, "workers.db"), "--slots", slots.ToString(CultureInfo.InvariantCulture)],
            new ManagedProcessOptions { Name = "workers dev", WorkingDirectory = directory, Log = TextWriter.Synchronized(log).WriteLine, MaxBufferedLines = 1_000 });
        using var http = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            await dev.WaitForHttpOkAsync(new Uri(api, "health/ready"), TimeSpan.FromSeconds(60), cancellationToken);

            // A load like the measured one first, run to its end: JIT tier-up, SQLite, the agents' first starts.
            var warm = Math.Max(1, options.WarmupRuns);
            progress.WriteLine($"embedded round {round}: warming up with {warm:N0} runs");
            await SubmitManyAsync(http, new double[warm], options.InFlight, Stopwatch.StartNew(), cancellationToken);
            await WaitTerminalAsync(http, dev, warm, TimeSpan.FromSeconds(options.RoundTimeoutSeconds), cancellationToken);

            var answer = new double[n];
            var cpuBefore = CpuSnapshot.Take();
            var clock = Stopwatch.StartNew();
            progress.WriteLine($"embedded round {round}: submitting {n:N0} runs over HTTP ({options.InFlight} at once)");
            await SubmitManyAsync(http, answer, options.InFlight, clock, cancellationToken);
            var submitted = clock.Elapsed;
            await WaitTerminalAsync(http, dev, warm + n, TimeSpan.FromSeconds(options.RoundTimeoutSeconds), cancellationToken);
            var elapsed = clock.Elapsed;
            var cpuAfter = CpuSnapshot.Take();
            var states = await StatesAsync(http, cancellationToken);
            Array.Sort(answer);
            var figures = new Dictionary<Figure, double>
            {
                [EmbeddedFigures.RunsPerSecond] = n / elapsed.TotalSeconds,
                [EmbeddedFigures.SubmitPerSecond] = n / submitted.TotalSeconds,
                [EmbeddedFigures.HttpP50] = Stats.Percentile(answer, 0.50),
                [EmbeddedFigures.HttpP99] = Stats.Percentile(answer, 0.99),
                [EmbeddedFigures.Duration] = elapsed.TotalSeconds,
                [EmbeddedFigures.NotSucceeded] = warm + n - states.GetValueOrDefault("Succeeded"),
                [EmbeddedFigures.CpuPerRun] = (cpuAfter.MachineBusySeconds - cpuBefore.MachineBusySeconds) * 1000 / n,
                [EmbeddedFigures.CpuDev] = CpuSnapshot.Used(cpuBefore, cpuAfter, p => p.Pid == dev.Pid, countReapedChildren: true) / elapsed.TotalSeconds,
                [EmbeddedFigures.CpuMachine] = (cpuAfter.MachineBusySeconds - cpuBefore.MachineBusySeconds) / elapsed.TotalSeconds,
            };
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"embedded round {round}: {figures[EmbeddedFigures.RunsPerSecond]:N0} runs/s, {figures[EmbeddedFigures.NotSucceeded]} not Succeeded"));
            if (figures[EmbeddedFigures.NotSucceeded] > 0)
            {
                // Say why, and keep the database and the log: the round's directory is otherwise deleted with the evidence.
                keep = true;
                progress.WriteLine($"embedded round {round}: the runs that did not succeed (database and log kept in {directory}):");
                await DescribeUnsuccessfulAsync(http, progress, cancellationToken);
            }
            return figures;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            keep = true;
            progress.WriteLine($"embedded round {round} failed; the log is kept in {directory}\n{dev.OutputTail(10)}");
            throw;
        }
        finally
        {
            await dev.DisposeAsync();
            await log.DisposeAsync();
            if (!keep)
            {
                try
                {
                    Directory.Delete(directory, recursive: true);
                }
                catch (IOException)
                {
                }
            }
        }
    }

    /// <summary>Submits one run per slot of <paramref name="answer"/> (random priorities), <paramref name="inFlight"/> at once; each slot gets its POST's time to answer.</summary>
    static Task SubmitManyAsync(HttpClient http, double[] answer, int inFlight, Stopwatch clock, CancellationToken cancellationToken)
    {
        var next = -1;
        return Task.WhenAll(Enumerable.Range(0, inFlight).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < answer.Length)
            {
                var sent = clock.Elapsed;
                await SubmitAsync(http, NewId.NextGuid(), Random.Shared.Next(0, 10), cancellationToken);
                answer[i] = (clock.Elapsed - sent).TotalMilliseconds;
            }
        }));
    }

    static async Task SubmitAsync(HttpClient http, Guid id, int priority, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync(new Uri("api/runs", UriKind.Relative),
            new { runId = id, agent = BenchFleet.Agent, input = "bench", priority }, cancellationToken);
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"POST /api/runs answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}");
    }

    static async Task<Dictionary<string, long>> StatesAsync(HttpClient http, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(new Uri("api/stats", UriKind.Relative), cancellationToken);
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        return body.RootElement.GetProperty("runs").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64(), StringComparer.Ordinal);
    }

    /// <summary>Prints up to ten runs of each terminal state but Succeeded: attempts, error kind and error.</summary>
    static async Task DescribeUnsuccessfulAsync(HttpClient http, TextWriter progress, CancellationToken cancellationToken)
    {
        foreach (var state in Terminal.Where(s => s != "Succeeded"))
        {
            using var response = await http.GetAsync(new Uri($"api/runs?state={state}&limit=10", UriKind.Relative), cancellationToken);
            response.EnsureSuccessStatusCode();
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
            foreach (var run in body.RootElement.GetProperty("items").EnumerateArray())
            {
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {run.GetProperty("runId")} {state}, attempt {run.GetProperty("attempt")} of {run.GetProperty("maxAttempts")}: " +
                    $"[{run.GetProperty("errorKind")}] {run.GetProperty("error")}"));
            }
        }
    }

    static async Task WaitTerminalAsync(HttpClient http, ManagedProcess dev, long expected, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (dev.HasExited)
                throw new InvalidOperationException($"workers dev exited with code {dev.ExitCode}.\n{dev.OutputTail(30)}");
            var states = await StatesAsync(http, cancellationToken);
            var done = Terminal.Sum(s => states.GetValueOrDefault(s));
            if (done >= expected)
                return;
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"only {done} of {expected} runs terminal after {timeout.TotalSeconds:0} s");
            await Task.Delay(Poll, cancellationToken);
        }
    }
}

/// <summary>The embedded workload's figures, in report order.</summary>
public static class EmbeddedFigures
{
    public static readonly Figure RunsPerSecond = new("embedded_runs_per_s", "**runs/s** (first POST → all terminal in /api/stats)", 0,
        "N / (the first `POST /api/runs` → the first `GET /api/stats` that counts every run terminal; so up to one poll late).");
    public static readonly Figure SubmitPerSecond = new("embedded_submit_per_s", "POST /api/runs rate, runs/s", 0, "N / (first POST → last answer).");
    public static readonly Figure HttpP50 = new("embedded_http_p50_ms", "POST /api/runs answer p50, ms", 1, "Request → `202 Accepted`.");
    public static readonly Figure HttpP99 = new("embedded_http_p99_ms", "POST /api/runs answer p99, ms", 1, "As above, 99th percentile.");
    public static readonly Figure Duration = new("embedded_duration_s", "first POST → all terminal, s", 1, "The time runs/s divides by.");
    public static readonly Figure NotSucceeded = new("embedded_not_succeeded", "runs not Succeeded", 0, "From `/api/stats`, the warm-up runs included. Should be 0.");
    public static readonly Figure CpuPerRun = new("embedded_cpu_ms_per_run", "CPU per run, ms (whole machine)", 2, "Machine busy time over the window / N.");
    public static readonly Figure CpuDev = new("embedded_cpu_dev", "CPU, `workers dev` with its agents (cores)", 2,
        "The process and its reaped children (the agents), divided by the window.");
    public static readonly Figure CpuMachine = new("embedded_cpu_machine", "CPU, whole machine busy (cores)", 2, "Elapsed time × cores, less idle and iowait from /proc/stat.");

    public static readonly IReadOnlyList<Figure> All =
        [RunsPerSecond, SubmitPerSecond, HttpP50, HttpP99, Duration, NotSucceeded, CpuPerRun, CpuDev, CpuMachine, Figures.LoadBefore];
}
