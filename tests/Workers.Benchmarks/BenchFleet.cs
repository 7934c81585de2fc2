using System.Globalization;
using System.Text.Json;

using Workers.Testing;

namespace Workers.Benchmarks;

/// <summary>
/// One round's fleet, as in production but private to the round: its own RabbitMQ vhost and PostgreSQL database, an
/// orchestrator process and worker processes from the Release build, all running the <c>noop</c> agent.
/// Disposing kills the processes and deletes the vhost and the database; the logs are kept only if asked.
/// </summary>
public sealed class BenchFleet : IAsyncDisposable
{
    /// <summary>The agent every throughput run asks for.</summary>
    public const string Agent = "noop";

    /// <summary>The one line the noop agent prints: its result.</summary>
    public const string NoopResult = """{"type":"result","output":"ok"}""";

    /// <summary>
    /// W6's agent: the noop agent that reads the clock. <c>/bin/date</c> prints its result line with the moment it started
    /// (ns since the epoch), so W6 measures submit → agent running, whatever path the run took to its worker.
    /// </summary>
    public const string ClockAgent = "noop-clock";

    /// <summary>The crash workload's agent: sleeps <see cref="CountSeconds"/> and logs each execution's start and end to <see cref="ExecutionLog"/>.</summary>
    public const string CountAgent = "count";

    /// <summary>How long a <see cref="CountAgent"/> run takes.</summary>
    public const double CountSeconds = 5;

    /// <summary>The cancel workload's agent: logs its run id and pid to <see cref="HoldLog"/>, then becomes <c>sleep 60</c>.</summary>
    public const string HoldAgent = "hold";

    /// <summary>The priority workload's agent: sleeps <see cref="ShortSeconds"/>, then prints its result line.</summary>
    public const string ShortAgent = "short";

    /// <summary>How long a <see cref="ShortAgent"/> run takes.</summary>
    public const double ShortSeconds = 0.02;

    /// <summary>The density workload's agent: becomes <c>sleep</c> for <see cref="IdleSeconds"/>, so it holds a slot and costs nothing.</summary>
    public const string IdleAgent = "idle";

    /// <summary>The native density workload's agent: the built-in loop against <see cref="ModelEndpoint"/>.</summary>
    public const string NativeAgent = "slow-native";

    /// <summary>
    /// Where <see cref="NativeAgent"/> finds its model: the fake OpenAI-compatible server the native workloads start
    /// (set before their fleets start; other workloads never call it).
    /// </summary>
    internal static Uri ModelEndpoint { get; set; } = new("http://127.0.0.1:9/v1");

    /// <summary>How long an <see cref="IdleAgent"/> run would take; the density round ends well before by stopping the fleet.</summary>
    public const int IdleSeconds = 300;

    readonly List<ManagedProcess> workers = [];
    readonly List<StreamWriter> logs = [];
    readonly HttpClient api;

    BenchFleet(string directory, int port)
    {
        Directory = directory;
        ApiAddress = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/");
        api = new HttpClient { BaseAddress = ApiAddress, Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary>The round's directory: agents file, workspaces, process logs.</summary>
    public string Directory { get; }

    public Uri ApiAddress { get; }

    public RabbitMqTestVhost Vhost { get; private set; } = null!;

    public PostgresTestDatabase Database { get; private set; } = null!;

    public ManagedProcess Orchestrator { get; private set; } = null!;

    public IReadOnlyList<ManagedProcess> Workers => workers;

    /// <summary>Lines <c>start RUN ATTEMPT START_NS PID</c> and <c>end RUN ATTEMPT START_NS END_NS PID</c> from the <see cref="CountAgent"/>.</summary>
    public string ExecutionLog => Path.Combine(Directory, "executions.log");

    /// <summary>Lines <c>RUN PID START_NS</c> from the <see cref="HoldAgent"/>; the pid is the <c>sleep</c> itself (the script execs it).</summary>
    public string HoldLog => Path.Combine(Directory, "hold.log");

    /// <summary>Sends <c>POST /api/runs/{id}/cancel</c>; returns the status code.</summary>
    public async Task<System.Net.HttpStatusCode> CancelAsync(Guid runId, CancellationToken cancellationToken)
    {
        using var response = await api.PostAsync(new Uri($"api/runs/{runId}/cancel?reason=bench", UriKind.Relative), null, cancellationToken);
        return response.StatusCode;
    }

    /// <summary>Keep <see cref="Directory"/> (with the process logs) on dispose, e.g. after a failed round.</summary>
    public bool KeepDirectory { get; set; }

    /// <summary>Creates the vhost and database, starts the orchestrator and the workers, and waits until every worker is alive in the registry.</summary>
    public static async Task<BenchFleet> StartAsync(HostBuild hosts, int workerCount, int slots, CancellationToken cancellationToken)
    {
        var fleet = new BenchFleet(System.IO.Directory.CreateTempSubdirectory("workers-bench-").FullName, FreePort.Get());
        try
        {
            await fleet.StartCoreAsync(hosts, workerCount, slots, cancellationToken);
            return fleet;
        }
        catch
        {
            fleet.KeepDirectory = true;
            await fleet.DisposeAsync();
            throw;
        }
    }

    /// <summary>Throws if a fleet process has exited: the round's figures would mean nothing.</summary>
    public void ThrowIfAnyExited(ManagedProcess? except = null)
    {
        foreach (var process in workers.Prepend(Orchestrator))
        {
            if (process.HasExited && process != except)
                throw new InvalidOperationException($"{process.Name} exited with code {process.ExitCode} during the round.\n{process.OutputTail(30)}");
        }
    }

    /// <summary>
    /// Kills the workers and the orchestrator and waits for them to exit. Their database sessions end with them, which
    /// is when PostgreSQL folds their last transaction counts into <c>pg_stat_database</c>.
    /// </summary>
    public async Task StopProcessesAsync(CancellationToken cancellationToken)
    {
        foreach (var process in workers.Append(Orchestrator))
            process.Kill();
        foreach (var process in workers.Append(Orchestrator))
            await process.WaitForExitAsync(TimeSpan.FromSeconds(30), cancellationToken);
    }

    async Task StartCoreAsync(HostBuild hosts, int workerCount, int slots, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        Vhost = await RabbitMqTestVhost.CreateAsync(cancellationToken);
        if (hosts.QueuePolicy is { } policy)
            await Vhost.SetQueuePolicyAsync("bench-queues", ".*", policy, cancellationToken);
        Database = await PostgresTestDatabase.CreateAsync(cancellationToken);
        var agents = WriteAgents(Directory);

        var port = ApiAddress.Port;
        Orchestrator = Start(hosts.OrchestratorDll, "orchestrator", FleetEnvironment.Orchestrator(Vhost, Database, port, agents));
        await Orchestrator.WaitForHttpOkAsync(new Uri(ApiAddress, "health/ready"), TimeSpan.FromSeconds(60), cancellationToken);

        var ids = new List<string>();
        for (var i = 1; i <= workerCount; i++)
        {
            var id = $"bench-worker-{i.ToString(CultureInfo.InvariantCulture)}";
            var environment = FleetEnvironment.Worker(Vhost, slots, agents);
            environment["Workers__Worker__WorkerId"] = id;
            environment["Workers__Worker__WorkspaceRoot"] = Path.Combine(Directory, "workspaces");
            workers.Add(Start(hosts.WorkerDll, id, environment));
            ids.Add(id);
        }
        await WaitUntilAliveAsync(ids, TimeSpan.FromSeconds(90), cancellationToken);
    }

    ManagedProcess Start(string assembly, string name, IDictionary<string, string?> environment)
    {
        var log = new StreamWriter(Path.Combine(Directory, $"{name}.log"));
        var writer = TextWriter.Synchronized(log);
        logs.Add(log);
        return ManagedProcess.StartDotnet(assembly, [], new ManagedProcessOptions
        {
            Name = name,
            WorkingDirectory = Directory,
            Environment = environment,
            Log = writer.WriteLine,
            MaxBufferedLines = 1_000,
        });
    }

    async Task WaitUntilAliveAsync(IReadOnlyCollection<string> ids, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = TimeProvider.System.GetUtcNow() + timeout;
        while (true)
        {
            ThrowIfAnyExited();
            using var response = await api.GetAsync(new Uri("api/workers", UriKind.Relative), cancellationToken);
            response.EnsureSuccessStatusCode();
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
            var alive = body.RootElement.EnumerateArray()
                .Where(w => w.GetProperty("status").GetString() == "alive")
                .Select(w => w.GetProperty("workerId").GetString())
                .ToHashSet(StringComparer.Ordinal);
            if (ids.All(alive.Contains))
                return;
            if (TimeProvider.System.GetUtcNow() > deadline)
                throw new TimeoutException($"workers not alive in GET /api/workers after {timeout.TotalSeconds:0} s: {string.Join(", ", ids.Where(i => !alive.Contains(i)))}");
            await Task.Delay(200, cancellationToken);
        }
    }

    /// <summary>Everything a fleet process has logged so far (its log file, flushed first).</summary>
    public string LogText(ManagedProcess process)
    {
        ArgumentNullException.ThrowIfNull(process);
        foreach (var log in logs)
            log.Flush();
        return File.ReadAllText(Path.Combine(Directory, $"{process.Name}.log"));
    }

    /// <summary>Writes the agents file (and the scripts it names) into <paramref name="directory"/>; returns its path.</summary>
    internal static string WriteAgents(string directory)
    {
        // noop: the cheapest run there is, one process that prints its result line and exits. noop-clock: the same, with the time.
        // count: as the integration tests' count agent, but it also logs the start, so executions cut short by a kill show.
        // hold: a run that stays running (sleep 60) until it is cancelled.
        // short: a 20 ms run (W2). idle: a run that only holds its slot (W5).
        var count = Path.Combine(directory, "count.sh");
        File.WriteAllText(count, """
            #!/usr/bin/env bash
            # Appends are atomic (one short line, O_APPEND).
            input=$(cat)
            start=$(date +%s%N)
            echo "start $WORKERS_RUN_ID $WORKERS_ATTEMPT $start $$" >> "$EXECUTION_LOG"
            sleep "$AGENT_SECONDS"
            end=$(date +%s%N)
            echo "end $WORKERS_RUN_ID $WORKERS_ATTEMPT $start $end $$" >> "$EXECUTION_LOG"
            printf '{"type":"result","output":"done %s"}\n' "${#input}"
            """.Replace("\r", "", StringComparison.Ordinal));
        var hold = Path.Combine(directory, "hold.sh");
        File.WriteAllText(hold, """
            #!/usr/bin/env bash
            echo "$WORKERS_RUN_ID $$ $(date +%s%N)" >> "$HOLD_LOG"
            exec sleep 60
            """.Replace("\r", "", StringComparison.Ordinal));
        var shortRun = Path.Combine(directory, "short.sh");
        File.WriteAllText(shortRun, $$"""
            #!/bin/sh
            sleep {{ShortSeconds.ToString("0.###", CultureInfo.InvariantCulture)}}
            echo '{"type":"result","output":"ok"}'
            """.Replace("\r", "", StringComparison.Ordinal));
        if (!OperatingSystem.IsWindows())
        {
            foreach (var script in new[] { count, hold, shortRun })
                File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var seconds = CountSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        var path = Path.Combine(directory, "agents.yaml");
        File.WriteAllText(path, $$"""
            agents:
              noop:
                runtime: process
                process:
                  command: /bin/echo
                  args: ['{{NoopResult}}']
              noop-clock:
                runtime: process
                process:
                  command: /bin/date
                  args: ['+{"type":"result","output":"%s%N"}']
              count:
                runtime: process
                process:
                  command: {{count}}
                  env:
                    AGENT_SECONDS: "{{seconds}}"
                    EXECUTION_LOG: "{{Path.Combine(directory, "executions.log")}}"
              hold:
                runtime: process
                process:
                  command: {{hold}}
                  env:
                    HOLD_LOG: "{{Path.Combine(directory, "hold.log")}}"
              short:
                runtime: process
                process:
                  command: {{shortRun}}
              idle:
                runtime: process
                process:
                  command: /bin/sleep
                  args: ['{{IdleSeconds.ToString(CultureInfo.InvariantCulture)}}']
              slow-native:
                runtime: native
                native:
                  provider: openai
                  baseUrl: {{ModelEndpoint.AbsoluteUri}}
                  model: fake-model
                  apiKey: sk-bench
                  tools: [list_directory]
                  maxSteps: 100
            """);
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        api.Dispose();
        foreach (var worker in workers)
            await worker.DisposeAsync();
        if (Orchestrator is not null)
            await Orchestrator.DisposeAsync();
        if (Database is not null)
            await Database.DisposeAsync();
        if (Vhost is not null)
            await Vhost.DisposeAsync();
        foreach (var log in logs)
            await log.DisposeAsync();
        if (KeepDirectory)
            return;
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
