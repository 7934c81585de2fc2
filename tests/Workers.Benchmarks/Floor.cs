using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

using Workers.Testing;

namespace Workers.Benchmarks;

/// <summary>
/// A reference program from <c>shared/peers</c> (next to the repository) that measures the same round trip with less
/// in the way: built once into a temporary directory (the shared tree is not written to), run once per round, its
/// figure read from the JSON line it prints last.
/// </summary>
public sealed class Floor
{
    readonly string projectDirectory;
    readonly string projectFile;
    readonly string[] arguments;
    readonly string field;
    readonly IReadOnlyList<(string Field, Figure Figure)> extras;
    string? assemblyPath;

    Floor(Figure figure, string title, string projectDirectory, string projectFile, string[] arguments, string field,
        IReadOnlyList<(string Field, Figure Figure)>? extras = null)
    {
        Figure = figure;
        Title = title;
        this.projectDirectory = projectDirectory;
        this.projectFile = projectFile;
        this.arguments = arguments;
        this.field = field;
        this.extras = extras ?? [];
    }

    public Figure Figure { get; }

    /// <summary>Further figures the last run printed on the same line (a latency floor's p99 beside its p50).</summary>
    public IReadOnlyDictionary<Figure, double> LastExtras { get; private set; } = new Dictionary<Figure, double>();

    /// <summary>What the floor is, in a few words.</summary>
    public string Title { get; }

    /// <summary>The command as the report shows it.</summary>
    public string Command => $"{Path.GetFileNameWithoutExtension(projectFile)} {string.Join(' ', arguments)}";

    /// <summary>Why the floor could not be built or run, if it could not.</summary>
    public string? Problem { get; private set; }

    /// <summary>Where the reference programs live: <c>&lt;repo&gt;/../shared/peers</c>.</summary>
    public static string PeersDirectory => Path.GetFullPath(Path.Combine(RepoPaths.Root, "..", "shared", "peers"));

    /// <summary>The raw RabbitMQ.Client round trip (two confirmed persistent messages per run).</summary>
    public static Floor Physical(int runs) => new(Figures.FloorPhysical, "raw RabbitMQ.Client round trip", Path.Combine(PeersDirectory, "physical"), "Physical.csproj",
        ["roundtrip", "--n", runs.ToString(CultureInfo.InvariantCulture), "--prefetch", "32"], "end_to_end_msgs_per_s");

    /// <summary>The same round trip through MassTransit 8.4.</summary>
    public static Floor MassTransit(int runs) => new(Figures.FloorMassTransit, "MassTransit round trip", Path.Combine(PeersDirectory, "masstransit"), "MtFloor.csproj",
        ["roundtrip", "--n", runs.ToString(CultureInfo.InvariantCulture), "--prefetch", "32"], "end_to_end_per_s");

    /// <summary>
    /// The raw round trip's latency with one publish in flight at a time (<c>--window 1</c>): publish → the completion
    /// event consumed, p50 (and p99 in <see cref="LastExtras"/>).
    /// </summary>
    public static Floor PhysicalLatency(int runs) => new(LatencyFigures.FloorPhysicalP50, "raw RabbitMQ.Client round trip, one publish at a time",
        Path.Combine(PeersDirectory, "physical"), "Physical.csproj",
        ["roundtrip", "--n", runs.ToString(CultureInfo.InvariantCulture), "--prefetch", "32", "--window", "1"], "event_latency_ms_p50",
        [("event_latency_ms_p99", LatencyFigures.FloorPhysicalP99)]);

    /// <summary>The MassTransit round trip's latency with one publisher (<c>--publishers 1</c>), p50 (and p99 in <see cref="LastExtras"/>).</summary>
    public static Floor MassTransitLatency(int runs) => new(LatencyFigures.FloorMassTransitP50, "MassTransit round trip, one publish at a time",
        Path.Combine(PeersDirectory, "masstransit"), "MtFloor.csproj",
        ["roundtrip", "--n", runs.ToString(CultureInfo.InvariantCulture), "--prefetch", "32", "--publishers", "1"], "latency_ms_p50",
        [("latency_ms_p99", LatencyFigures.FloorMassTransitP99)]);

    /// <summary>The noop agent through the process runtime alone, as many at once as the fleet has slots (<see cref="AgentFloor"/>).</summary>
    public static Floor Agent(int runs, int concurrency) =>
        new(Figures.FloorAgent, "the noop agent alone", AppContext.BaseDirectory, "workers-bench.csproj",
            [AgentFloor.Verb, "--n", runs.ToString(CultureInfo.InvariantCulture), "--concurrency", concurrency.ToString(CultureInfo.InvariantCulture)],
            AgentFloor.Field)
        {
            assemblyPath = typeof(AgentFloor).Assembly.Location,
        };

    /// <summary>
    /// Builds the program (Release) unless a build of the same sources is cached under the temp directory. A failure is
    /// recorded in <see cref="Problem"/>, not thrown: the fleet figures stand on their own.
    /// </summary>
    public async Task BuildAsync(TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(progress);
        if (assemblyPath is not null)
            return;
        var sources = System.IO.Directory.Exists(projectDirectory)
            ? System.IO.Directory.GetFiles(projectDirectory).Where(f => f.EndsWith(".cs", StringComparison.Ordinal) || f.EndsWith(".csproj", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal).ToArray()
            : [];
        if (!sources.Any(s => Path.GetFileName(s) == projectFile))
        {
            Problem = $"{Path.Combine(projectDirectory, projectFile)} not found";
            return;
        }

        // Keyed by the sources' content, so an edited floor is rebuilt and an unchanged one is not.
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Concat(sources.Select(File.ReadAllText)))))[..12];
        var root = Path.Combine(Path.GetTempPath(), "workers-bench-floors", $"{Path.GetFileNameWithoutExtension(projectFile)}-{hash}");
        var output = Path.Combine(root, "out");
        var assembly = Path.Combine(output, Path.GetFileNameWithoutExtension(projectFile) + ".dll");
        if (File.Exists(assembly))
        {
            assemblyPath = assembly;
            return;
        }

        // Built from a copy: the shared tree stays untouched (no obj/ or bin/ written there).
        var copy = Path.Combine(root, "src");
        System.IO.Directory.CreateDirectory(copy);
        foreach (var source in sources)
            File.Copy(source, Path.Combine(copy, Path.GetFileName(source)), overwrite: true);
        progress.WriteLine($"building the floor {projectFile} (Release) in {root}");
        await using var build = ManagedProcess.Start(Dotnet, ["build", Path.Combine(copy, projectFile), "-c", "Release", "-o", output, "-nologo"],
            new ManagedProcessOptions { Name = $"build {projectFile}", WorkingDirectory = copy });
        var exit = await build.WaitForExitAsync(TimeSpan.FromMinutes(5), cancellationToken);
        if (exit != 0 || !File.Exists(assembly))
        {
            Problem = $"dotnet build {projectFile} failed (exit {exit}): {build.OutputTail(5)}";
            return;
        }
        assemblyPath = assembly;
    }

    /// <summary>CPU cores used by processes other than the floor, the broker and the database during the last run.</summary>
    public double LastOthers { get; private set; }

    /// <summary>
    /// Runs the program once. Returns its figure, or NaN (with <see cref="Problem"/> set) if it failed, and the cores other
    /// processes used meanwhile.
    /// </summary>
    public async Task<(double Value, double Others)> RunAsync(TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(progress);
        LastExtras = extras.ToDictionary(e => e.Figure, _ => double.NaN);
        if (assemblyPath is null)
            return (double.NaN, 0);
        progress.WriteLine($"floor: {Command}");
        var before = CpuSnapshot.Take();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int exit;
        IReadOnlyList<string> output;
        string tail;
        await using (var run = ManagedProcess.StartDotnet(assemblyPath, arguments, new ManagedProcessOptions { Name = Path.GetFileName(assemblyPath) }))
        {
            exit = await run.WaitForExitAsync(TimeSpan.FromMinutes(10), cancellationToken);
            output = run.Output;
            tail = run.OutputTail(5);
        }
        var after = CpuSnapshot.Take();
        LastOthers = Others(before, after) / clock.Elapsed.TotalSeconds;

        // stdout and stderr arrive interleaved: take the last line that is a JSON object with the figure.
        foreach (var line in output.Reverse())
        {
            if (!line.StartsWith('{'))
                continue;
            try
            {
                using var json = JsonDocument.Parse(line);
                if (json.RootElement.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.Number)
                {
                    LastExtras = extras.ToDictionary(e => e.Figure,
                        e => json.RootElement.TryGetProperty(e.Field, out var extra) && extra.ValueKind == JsonValueKind.Number ? extra.GetDouble() : double.NaN);
                    return (value.GetDouble(), LastOthers);
                }
            }
            catch (JsonException)
            {
            }
        }
        Problem = $"{Command} printed no {field} (exit {exit}): {tail}";
        progress.WriteLine(Problem);
        return (double.NaN, LastOthers);
    }

    static double Others(CpuSnapshot before, CpuSnapshot after)
    {
        // The floor is this process's child: once it has exited and been reaped, its time is in this process's reaped-children time.
        var self = Environment.ProcessId;
        var benchmark = CpuSnapshot.Used(before, after, p => p.Pid == self, countReapedChildren: true);
        var broker = CpuSnapshot.Used(before, after, FleetRound.IsBroker, countReapedChildren: true);
        var postgres = CpuSnapshot.Used(before, after, FleetRound.IsPostgres, countReapedChildren: true);
        return after.MachineBusySeconds - before.MachineBusySeconds - benchmark - broker - postgres;
    }

    static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
}
