using System.ComponentModel;
using System.Text.Json;

using Workers.Testing;

namespace Workers.Benchmarks;

/// <summary>
/// The peer, BullMQ on Redis, on W1-W3 as <c>shared/peers/bullmq</c> runs them (its README's commands), when Node, a Redis
/// that answers <c>PING</c> and the peers' npm packages are all there; the benchmark installs none of them.
/// </summary>
public static class PeerBenchmarks
{
    public static string Title =>
        "The peer, BullMQ on local Redis, run by this benchmark from `../shared/peers` with the commands of its README: " +
        "`node bullmq/w1-throughput.js --n 20000 --workers 2 --concurrency 32`, `node bullmq/w2-priority.js --low 2000 --high 100 --concurrency 4 --sleep 20`, " +
        "`node bullmq/w3-crash.js --n 100 --concurrency 10 --sleep 5000 --lock 5000 --stalled-interval 5000`; each figure is a field of the JSON line the script prints last.";

    static readonly (string Script, string[] Arguments, (string Field, Figure Figure)[] Fields)[] Benchmarks =
    [
        ("bullmq/w1-throughput.js", ["--n", "20000", "--workers", "2", "--concurrency", "32"],
            [("jobs_per_s", PeerFigures.W1JobsPerSecond), ("wait_ms_p50", PeerFigures.W1WaitP50), ("wait_ms_p99", PeerFigures.W1WaitP99)]),
        ("bullmq/w2-priority.js", ["--low", "2000", "--high", "100", "--concurrency", "4", "--sleep", "20"],
            [("high_rank_median", PeerFigures.W2RankMedian), ("high_rank_max", PeerFigures.W2RankMax), ("lows_overtaking", PeerFigures.W2Overtaking)]),
        ("bullmq/w3-crash.js", ["--n", "100", "--concurrency", "10", "--sleep", "5000", "--lock", "5000", "--stalled-interval", "5000"],
            [("restarted_ms_last", PeerFigures.W3Restarted), ("completed_twice", PeerFigures.W3Twice)]),
    ];

    /// <summary>Why the peer cannot run here, or null.</summary>
    public static async Task<string?> ProblemAsync(CancellationToken cancellationToken)
    {
        var peers = Floor.PeersDirectory;
        if (!File.Exists(Path.Combine(peers, "bullmq", "w1-throughput.js")))
            return $"{Path.Combine(peers, "bullmq")} not found";
        if (await OutputOfAsync("node", ["--version"], peers, cancellationToken) is null)
            return "Node is not installed (`node` not on PATH)";
        if (await OutputOfAsync("redis-cli", ["ping"], peers, cancellationToken) is not { } pong || !pong.Contains("PONG", StringComparison.Ordinal))
            return "no Redis answers `redis-cli ping` (e.g. `apt-get install -y redis-server`)";
        if (!File.Exists(Path.Combine(peers, "node_modules", "bullmq", "package.json")))
            return $"the peers' npm packages are not installed (`npm install` in {peers}, as its setup.sh does)";
        return null;
    }

    /// <summary>One round: the three scripts in turn.</summary>
    public static async Task<Dictionary<Figure, double>> RunAsync(BenchmarkOptions options, HostBuild hosts, int round, TextWriter progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(progress);
        var figures = new Dictionary<Figure, double>();
        foreach (var (script, arguments, fields) in Benchmarks)
        {
            progress.WriteLine($"bullmq round {round}: node {script} {string.Join(' ', arguments)}");
            await using var run = ManagedProcess.Start("node", [script, .. arguments], new ManagedProcessOptions { Name = script, WorkingDirectory = Floor.PeersDirectory });
            var exit = await run.WaitForExitAsync(TimeSpan.FromMinutes(5), cancellationToken);
            var json = run.Output.LastOrDefault(l => l.StartsWith('{'))
                ?? throw new InvalidOperationException($"node {script} printed no JSON line (exit {exit}): {run.OutputTail(5)}");
            using var result = JsonDocument.Parse(json);
            foreach (var (field, figure) in fields)
            {
                figures[figure] = result.RootElement.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.Number
                    ? value.GetDouble()
                    : throw new InvalidOperationException($"node {script} printed no {field}: {json}");
            }
        }
        return figures;
    }

    static async Task<string?> OutputOfAsync(string program, string[] arguments, string directory, CancellationToken cancellationToken)
    {
        try
        {
            await using var run = ManagedProcess.Start(program, arguments, new ManagedProcessOptions { Name = program, WorkingDirectory = directory });
            return await run.WaitForExitAsync(TimeSpan.FromSeconds(10), cancellationToken) == 0 ? string.Join('\n', run.Output) : null;
        }
        catch (Win32Exception)
        {
            return null;
        }
        catch (TimeoutException)
        {
            return null;
        }
    }
}

/// <summary>The peer's figures, in report order.</summary>
public static class PeerFigures
{
    public static readonly Figure W1JobsPerSecond = new("bull_w1_jobs_per_s", "**BullMQ W1 jobs/s**", 0, "`jobs_per_s`: 20,000 jobs / (first enqueue → last `finishedOn`).");
    public static readonly Figure W1WaitP50 = new("bull_w1_wait_p50_ms", "BullMQ W1 wait p50, ms", 0, "`wait_ms_p50`: `processedOn − timestamp` (includes the backlog).");
    public static readonly Figure W1WaitP99 = new("bull_w1_wait_p99_ms", "BullMQ W1 wait p99, ms", 0, "`wait_ms_p99`.");
    public static readonly Figure W2RankMedian = new("bull_w2_rank_median", "**BullMQ W2 completion rank of the median high job**", 0, "`high_rank_median` of 2,100.");
    public static readonly Figure W2RankMax = new("bull_w2_rank_max", "BullMQ W2 completion rank of the last high job", 0, "`high_rank_max`.");
    public static readonly Figure W2Overtaking = new("bull_w2_lows_overtaking", "BullMQ W2 lows overtaking", 0, "`lows_overtaking` (ideal: the concurrency, 4).");
    public static readonly Figure W3Restarted = new("bull_w3_restarted_ms", "**BullMQ W3 kill → last lost job restarted, ms**", 0,
        "`restarted_ms_last`, lockDuration and stalledInterval 5,000 ms.");
    public static readonly Figure W3Twice = new("bull_w3_completed_twice", "BullMQ W3 jobs completed twice", 0, "`completed_twice`.");

    public static readonly IReadOnlyList<Figure> All =
        [W1JobsPerSecond, W1WaitP50, W1WaitP99, W2RankMedian, W2RankMax, W2Overtaking, W3Restarted, W3Twice, Figures.LoadBefore];
}
