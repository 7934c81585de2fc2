using System.Globalization;
using System.Text.Json;

namespace Workers.Benchmarks;

/// <summary>What one invocation of <c>workers-bench</c> measures. Every setting has a command-line flag of the same name.</summary>
public sealed class BenchmarkOptions
{
    /// <summary>
    /// <c>--workload</c>: <c>throughput</c> (W1, the default), <c>embedded</c> (W1 through <c>workers dev</c>), <c>priority</c> (W2),
    /// <c>crash</c> / <c>crash-spare</c> (W3), <c>cancel</c> (W4), <c>density</c> (W5), <c>latency</c> (W6), <c>bullmq</c> (the peer) or <c>all</c>.
    /// </summary>
    public string Workload { get; set; } = "throughput";

    public bool RunsThroughput => Workload is "throughput" or "all";

    public bool RunsCrash => Workload is "crash" or "all";

    public bool RunsCrashSpare => Workload is "crash-spare" or "all";

    public bool RunsCancel => Workload is "cancel" or "all";

    public bool RunsEmbedded => Workload is "embedded" or "all";

    public bool RunsPriority => Workload is "priority" or "all";

    public bool RunsDensity => Workload is "density" or "all";

    public bool RunsNativeDensity => Workload is "native-density" or "all";

    public bool RunsNativeOverhead => Workload is "native-overhead" or "all";

    public bool RunsLatency => Workload is "latency" or "all";

    public bool RunsBullMq => Workload is "bullmq" or "all";

    /// <summary>Every <c>--workload</c> value.</summary>
    public static readonly IReadOnlyList<string> Workloads =
        ["throughput", "embedded", "priority", "crash", "crash-spare", "cancel", "density", "native-density", "native-overhead", "latency", "bullmq", "all"];

    /// <summary><c>--density-runs</c>: concurrent idle runs on the one worker in W5 (its slots too).</summary>
    public int DensityRuns { get; set; } = 1_000;

    /// <summary><c>--w6-rate</c>: submissions per second in W6; unset, half the W1 median of this invocation (measured first if W1 is not part of it).</summary>
    public double? LatencyRate { get; set; }

    /// <summary><c>--w6-seconds</c>: how long W6 submits at its paced rate.</summary>
    public int LatencySeconds { get; set; } = 20;

    /// <summary>
    /// <c>--w6-warmup</c>: seconds W6 submits at the same pace before it starts measuring. Fresh processes spend their first
    /// seconds at this rate compiling (JIT tier-up) and keep the machine busy doing it: 20-30 s on the VM of 2026-11-22, about
    /// 40 s on that of 2026-12-02, where the orchestrator still spent over a quarter of its CPU in the JIT 40-55 s into a round at
    /// 48 runs/s. The warm-up is reported apart.
    /// </summary>
    public int LatencyWarmupSeconds { get; set; } = 75;

    /// <summary>
    /// <c>--w6-warmup-max</c>: after <see cref="LatencyWarmupSeconds"/>, W6 goes on warming up until the fleet keeps pace (every run
    /// published over a second ago has started), but no longer than this. On 2026-12-03, at 150 runs/s on a slow hour, a cold
    /// fleet took 34-47 s to keep pace.
    /// </summary>
    public int LatencyWarmupMaxSeconds { get; set; } = 300;

    /// <summary><c>--w6-csv</c>: append every W6 run's times to this CSV file (see <see cref="RunTimesCsv"/>); null writes none.</summary>
    public string? LatencyCsvPath { get; set; }

    /// <summary>
    /// <c>--warmup-runs</c>: runs W1 submits and waits for before each measured round, so it measures a running fleet and not
    /// the fresh processes' JIT tier-up.
    /// </summary>
    public int WarmupRuns { get; set; } = 5_000;

    /// <summary><c>--runs</c>: runs submitted per round.</summary>
    public int Runs { get; set; } = 20_000;

    /// <summary><c>--rounds</c>: rounds, each on a fresh vhost, database and fleet; the figures are min / median / max over them.</summary>
    public int Rounds { get; set; } = 3;

    /// <summary><c>--workers</c>: worker processes in the fleet.</summary>
    public int Workers { get; set; } = 2;

    /// <summary>
    /// <c>--slots</c>: concurrent runs per worker (<c>Workers:Worker:Slots</c>). 32, the concurrency per worker of the peers'
    /// W1 (BullMQ's 2 workers × 32) and the floors' prefetch of 32.
    /// </summary>
    public int Slots { get; set; } = 32;

    /// <summary><c>--in-flight</c>: SubmitRun publishes awaiting their broker confirm at once.</summary>
    public int InFlight { get; set; } = 64;

    /// <summary><c>--round-timeout</c>: seconds a round may take from the first publish until every run is terminal.</summary>
    public int RoundTimeoutSeconds { get; set; } = 600;

    /// <summary><c>--quiet-below</c>: before each measurement, wait until the whole machine uses fewer cores than this (others' builds and tests).</summary>
    public double QuietBelow { get; set; } = 0.3;

    /// <summary><c>--quiet-timeout</c>: seconds to wait for a quiet machine before measuring anyway (with a warning).</summary>
    public int QuietTimeoutSeconds { get; set; } = 300;

    /// <summary><c>--retries</c>: times a measurement is repeated when other processes used more than <see cref="QuietBelow"/> cores during it.</summary>
    public int Retries { get; set; } = 2;

    /// <summary><c>--skip-floor</c>: measure only the fleet, not the raw RabbitMQ and MassTransit round trips.</summary>
    public bool SkipFloor { get; set; }

    /// <summary><c>--floor-runs</c>: messages in the raw-client round trip (<c>Physical roundtrip --n</c>).</summary>
    public int FloorRuns { get; set; } = 50_000;

    /// <summary><c>--mt-floor-runs</c>: messages in the MassTransit round trip (<c>MtFloor roundtrip --n</c>).</summary>
    public int MassTransitFloorRuns { get; set; } = 20_000;

    /// <summary><c>--agent-floor-runs</c>: runs of the agent floor (the noop agent alone).</summary>
    public int AgentFloorRuns { get; set; } = 10_000;

    /// <summary>
    /// <c>--queue-policy JSON</c>: a RabbitMQ policy definition each fleet round puts on its vhost's queues before the
    /// fleet starts, e.g. <c>{"queue-mode":"lazy"}</c>, to measure a broker setting; null keeps the broker's defaults.
    /// </summary>
    public JsonElement? QueuePolicy { get; set; }

    /// <summary><c>--keep-logs</c>: keep each round's directory (process logs, agents file) and say where.</summary>
    public bool KeepLogs { get; set; }

    /// <summary><c>--doc PATH</c>: where the report goes; default <c>docs/benchmarks.md</c> in the repository.</summary>
    public string? DocPath { get; set; }

    /// <summary><c>--no-doc</c>: print the report only (for trial runs).</summary>
    public bool NoDoc { get; set; }

    /// <summary>The command line as given, for the report.</summary>
    public string CommandLine { get; private set; } = "";

    public const string Usage = """
        usage: dotnet run -c Release --project tests/Workers.Benchmarks -- [options]
          --workload W        throughput (W1, default) | embedded (W1 through `workers dev`) | priority (W2: 2000 low, then 100 high)
                              | crash (W3: kill a worker) | crash-spare (W3 with free slots) | cancel (W4: cancel 100 running runs)
                              | density (W5: 1000 idle runs on one worker) | native-density (W5 with the native runtime and a 2 s model)
                              | native-overhead (the native loop's cost per step against the SDK call) | latency (W6: dispatch latency at half the W1 rate)
                              | bullmq (the peer's W1-W3, if Node, Redis and its packages are there) | all
          --runs N            runs per throughput round (default 20000, as W1 asks)
          --warmup-runs N     runs submitted and finished before each measured W1 round (default 5000; 1 = a cold fleet)
          --rounds N          rounds (default 3)
          --workers N         worker processes (default 2)
          --slots N           slots per worker (default 32)
          --in-flight N       concurrent SubmitRun publishes (default 64)
          --round-timeout S   seconds until every run must be terminal (default 600)
          --quiet-below C     before each measurement wait until fewer than C cores are busy (default 0.3)
          --quiet-timeout S   but no longer than S seconds (default 300)
          --retries N         repeat a measurement disturbed by other processes up to N times (default 2)
          --skip-floor        do not run the raw RabbitMQ / MassTransit floors
          --floor-runs N      Physical roundtrip --n (default 50000)
          --mt-floor-runs N   MtFloor roundtrip --n (default 20000)
          --agent-floor-runs N  runs of the agent floor, the noop agent alone (default 10000)
          --density-runs N    W5's concurrent runs on one worker (default 1000)
          --w6-rate R         W6 submissions per second (default: half the W1 median measured in this invocation)
          --w6-seconds S      W6 paced submission time that is measured (default 20)
          --w6-warmup S       W6 paced submission time before it, reported apart (default 75; 0 measures from a cold start)
          --w6-warmup-max S   and after that, until the fleet keeps pace, but no longer than S (default 300)
          --w6-csv PATH       append each W6 run's times to this CSV (round, warm-up or measured, priority, latencies)
          --queue-policy J    put this RabbitMQ policy definition (a JSON object, e.g. '{"queue-mode":"lazy"}') on every
                              queue of each fleet round's vhost (default: none, the broker's defaults)
          --keep-logs         keep each round's process logs (e.g. with Logging__LogLevel__Workers=Debug set)
          --doc PATH          write the report here (default docs/benchmarks.md)
          --no-doc            print the report only
        Build the solution first: dotnet build -c Release Workers.sln
        """;

    /// <summary>Reads the command line.</summary>
    /// <exception cref="ArgumentException">An unknown flag or a bad value; the message names it.</exception>
    public static BenchmarkOptions Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new BenchmarkOptions { CommandLine = string.Join(' ', args) };
        for (var i = 0; i < args.Count; i++)
        {
            var flag = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{flag} needs a value.");
            int Number(int min, int max)
            {
                var text = Value();
                return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
                    ? n
                    : throw new ArgumentException($"{flag} must be a whole number from {min} to {max}, not '{text}'.");
            }
            double Cores()
            {
                var text = Value();
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var c) && c > 0
                    ? c
                    : throw new ArgumentException($"{flag} must be a positive number of cores (e.g. 0.3), not '{text}'.");
            }
            double Rate()
            {
                var text = Value();
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) && r > 0 && r <= 100_000
                    ? r
                    : throw new ArgumentException($"{flag} must be a positive number of runs per second (at most 100000), not '{text}'.");
            }
            switch (flag)
            {
                case "--workload":
                    options.Workload = Value() is var w && Workloads.Contains(w)
                        ? w
                        : throw new ArgumentException($"--workload must be one of {string.Join(", ", Workloads)}, not '{w}'.");
                    break;
                case "--runs": options.Runs = Number(1, 10_000_000); break;
                case "--rounds": options.Rounds = Number(1, 100); break;
                case "--workers": options.Workers = Number(1, 64); break;
                case "--slots": options.Slots = Number(1, 10_000); break;
                case "--in-flight": options.InFlight = Number(1, 100_000); break;
                case "--round-timeout": options.RoundTimeoutSeconds = Number(10, 86_400); break;
                case "--quiet-below": options.QuietBelow = Cores(); break;
                case "--quiet-timeout": options.QuietTimeoutSeconds = Number(0, 86_400); break;
                case "--retries": options.Retries = Number(0, 100); break;
                case "--skip-floor": options.SkipFloor = true; break;
                case "--floor-runs": options.FloorRuns = Number(1, 10_000_000); break;
                case "--mt-floor-runs": options.MassTransitFloorRuns = Number(1, 10_000_000); break;
                case "--agent-floor-runs": options.AgentFloorRuns = Number(1, 10_000_000); break;
                case "--warmup-runs": options.WarmupRuns = Number(1, 10_000_000); break;
                case "--density-runs": options.DensityRuns = Number(1, 5_000); break;
                case "--w6-rate": options.LatencyRate = Rate(); break;
                case "--w6-seconds": options.LatencySeconds = Number(1, 3_600); break;
                case "--w6-warmup": options.LatencyWarmupSeconds = Number(0, 3_600); break;
                case "--w6-warmup-max": options.LatencyWarmupMaxSeconds = Number(0, 3_600); break;
                case "--w6-csv": options.LatencyCsvPath = Value(); break;
                case "--queue-policy": options.QueuePolicy = PolicyDefinition(Value()); break;
                case "--keep-logs": options.KeepLogs = true; break;
                case "--doc": options.DocPath = Value(); break;
                case "--no-doc": options.NoDoc = true; break;
                default: throw new ArgumentException($"unknown option '{flag}'.");
            }
        }
        return options;
    }

    static JsonElement PolicyDefinition(string text)
    {
        try
        {
            var definition = JsonDocument.Parse(text).RootElement;
            if (definition.ValueKind == JsonValueKind.Object && definition.EnumerateObject().Any())
                return definition.Clone();
        }
        catch (JsonException)
        {
        }
        throw new ArgumentException($"--queue-policy must be a JSON object of policy keys, e.g. '{{\"queue-mode\":\"lazy\"}}', not '{text}'.");
    }
}
