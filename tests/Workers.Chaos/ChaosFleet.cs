using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Workers.Testing;

namespace Workers.Chaos;

/// <summary>
/// A real distributed fleet for one chaos scenario: a private RabbitMQ vhost and PostgreSQL database, orchestrator and
/// worker processes, and an agents file whose <c>count</c> agent logs a line when each execution starts and another
/// when it ends. A background monitor notes when each agent process disappears (killed executions never log their end).
/// </summary>
public sealed class ChaosFleet : IAsyncDisposable
{
    static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };

    readonly Lock gate = new();
    readonly List<(string Name, ManagedProcess Process, Uri Api)> orchestrators = [];
    readonly List<ManagedProcess> workers = [];
    readonly List<ManagedProcess> everyProcess = [];
    readonly Dictionary<int, long> deaths = [];
    readonly CancellationTokenSource stopping = new();
    readonly Task monitor;
    int workerCount;

    ChaosFleet(RabbitMqTestVhost vhost, PostgresTestDatabase database, string directory)
    {
        Vhost = vhost;
        Database = database;
        Directory = directory;
        monitor = Task.Run(MonitorAgentsAsync);
    }

    public RabbitMqTestVhost Vhost { get; }
    public PostgresTestDatabase Database { get; }
    public string Directory { get; }
    public string ExecutionLog => Path.Combine(Directory, "executions.log");

    public IReadOnlyList<ManagedProcess> LiveWorkers
    {
        get
        {
            lock (gate)
                return workers.Where(w => !w.HasExited).ToList();
        }
    }

    public IReadOnlyList<ManagedProcess> LiveOrchestrators
    {
        get
        {
            lock (gate)
                return orchestrators.Where(o => !o.Process.HasExited).Select(o => o.Process).ToList();
        }
    }

    public IReadOnlyList<ManagedProcess> EveryProcess
    {
        get
        {
            lock (gate)
                return everyProcess.ToList();
        }
    }

    public static async Task<ChaosFleet> StartAsync(double agentSeconds, CancellationToken cancellationToken)
    {
        var vhost = await RabbitMqTestVhost.CreateAsync(cancellationToken);
        var database = await PostgresTestDatabase.CreateAsync(cancellationToken);
        var directory = System.IO.Directory.CreateTempSubdirectory("workers-chaos-").FullName;
        WriteAgents(directory, agentSeconds);
        return new ChaosFleet(vhost, database, directory);
    }

    public async Task<ManagedProcess> StartOrchestratorAsync(string name, CancellationToken cancellationToken)
    {
        var api = new Uri($"http://127.0.0.1:{FreePort.Get().ToString(CultureInfo.InvariantCulture)}/");
        var process = ManagedProcess.StartDotnet(RepoPaths.OrchestratorDll, ["--urls", api.ToString()], Options(name));
        lock (gate)
        {
            orchestrators.Add((name, process, api));
            everyProcess.Add(process);
        }
        await process.WaitForHttpOkAsync(new Uri(api, "health/ready"), TimeSpan.FromSeconds(90), cancellationToken);
        return process;
    }

    /// <summary>Starts a worker (slots 4 unless told) and waits until an orchestrator lists it alive.</summary>
    public async Task<ManagedProcess> StartWorkerAsync(CancellationToken cancellationToken, int slots = 4)
    {
        var id = $"worker-{Interlocked.Increment(ref workerCount).ToString(CultureInfo.InvariantCulture)}";
        var options = Options(id);
        options.Environment["Workers__Worker__WorkerId"] = id;
        options.Environment["Workers__Worker__Slots"] = slots.ToString(CultureInfo.InvariantCulture);
        var worker = ManagedProcess.StartDotnet(RepoPaths.WorkerDll, [], options);
        lock (gate)
        {
            workers.Add(worker);
            everyProcess.Add(worker);
        }
        var clock = Stopwatch.StartNew();
        while (true)
        {
            foreach (var api in LiveApis())
            {
                try
                {
                    var list = await Http.GetFromJsonAsync<List<JsonElement>>(new Uri(api, "api/workers"), JsonSerializerOptions.Web, cancellationToken);
                    if (list!.Any(w => w.GetProperty("workerId").GetString() == id && w.GetProperty("status").GetString() == "alive"))
                        return worker;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
                {
                }
            }
            if (worker.HasExited || clock.Elapsed > TimeSpan.FromSeconds(90))
                throw new InvalidOperationException($"{id} did not register within 90 s (exit code {worker.ExitCode}).\n{worker.OutputTail(30)}");
            await Task.Delay(250, cancellationToken);
        }
    }

    /// <summary>The name a worker process was started with (its worker id).</summary>
    public static string NameOf(ManagedProcess process) => process.Name;

    /// <summary>
    /// Submits one run with a client-chosen id, so a retried request is the same submission. Retries on any live
    /// orchestrator until one answers 202 or <paramref name="patience"/> is over. Returns whether it was accepted.
    /// </summary>
    public async Task<bool> SubmitAsync(Guid runId, string input, TimeSpan patience, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var turn = 0;
        while (clock.Elapsed < patience)
        {
            var apis = LiveApis();
            if (apis.Count > 0)
            {
                var api = apis[turn++ % apis.Count];
                try
                {
                    using var response = await Http.PostAsJsonAsync(new Uri(api, "api/runs"),
                        new { agent = "count", input, priority = 5, runId }, JsonSerializerOptions.Web, cancellationToken);
                    if (response.StatusCode == HttpStatusCode.Accepted)
                        return true;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
                {
                }
            }
            await Task.Delay(500, cancellationToken);
        }
        return false;
    }

    /// <summary>The saga rows for these runs; null when the database does not answer.</summary>
    public async Task<List<RunRow>?> TryRowsAsync(IReadOnlyCollection<Guid> runIds, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await Database.OpenConnectionAsync(cancellationToken);
            await using var command = new NpgsqlCommand(
                """
                SELECT run_id, current_state, attempt, worker_id, last_error, started_at, finished_at, released_attempts
                FROM runs WHERE run_id = ANY(@ids)
                """, connection);
            command.Parameters.AddWithValue("ids", runIds.ToArray());
            var rows = new List<RunRow>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add(new RunRow(reader.GetGuid(0), reader.GetString(1), reader.GetInt32(2),
                    reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4),
                    reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
                    reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6), reader.GetInt32(7)));
            }
            return rows;
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>Running runs per worker id (empty when the database does not answer).</summary>
    public async Task<Dictionary<string, int>> RunningPerWorkerAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await Database.OpenConnectionAsync(cancellationToken);
            await using var command = new NpgsqlCommand(
                "SELECT worker_id, count(*) FROM runs WHERE current_state = 'Running' AND worker_id IS NOT NULL GROUP BY 1", connection);
            var result = new Dictionary<string, int>(StringComparer.Ordinal);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
                result[reader.GetString(0)] = (int)reader.GetInt64(1);
            return result;
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            return [];
        }
    }

    public List<Execution> Executions()
    {
        Dictionary<int, long> snapshot;
        lock (gate)
            snapshot = new Dictionary<int, long>(deaths);
        return Execution.Read(ExecutionLog, snapshot);
    }

    /// <summary>Writes every process's whole output to <paramref name="directory"/>, one file per process.</summary>
    public void SaveLogs(string directory)
    {
        System.IO.Directory.CreateDirectory(directory);
        foreach (var (process, index) in EveryProcess.Select((p, i) => (p, i)))
            File.WriteAllLines(Path.Combine(directory, $"{index:00}-{process.Name}-{process.Pid}.log"), process.Output);
        if (File.Exists(ExecutionLog))
            File.Copy(ExecutionLog, Path.Combine(directory, "executions.log"), overwrite: true);
    }

    List<Uri> LiveApis()
    {
        lock (gate)
            return orchestrators.Where(o => !o.Process.HasExited).Select(o => o.Api).ToList();
    }

    // Every 50 ms: which started agent processes are gone (or zombies)? The first time one is seen gone is its death.
    async Task MonitorAgentsAsync()
    {
        var token = stopping.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                foreach (var pid in Execution.StartedPids(ExecutionLog))
                {
                    lock (gate)
                    {
                        if (deaths.ContainsKey(pid))
                            continue;
                    }
                    if (!Alive(pid))
                    {
                        lock (gate)
                            deaths.TryAdd(pid, NowNs());
                    }
                }
                await Task.Delay(50, token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (IOException)
            {
            }
        }
    }

    static bool Alive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state is not ("Z" or "X");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public static long NowNs() => (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;

    ManagedProcessOptions Options(string name)
    {
        var options = new ManagedProcessOptions { Name = name, WorkingDirectory = Directory };
        options.Environment["Workers__Bus__Transport"] = "RabbitMq";
        options.Environment["Workers__Bus__RabbitMqUrl"] = Vhost.AmqpUrl.AbsoluteUri;
        options.Environment["RABBITMQ_URL"] = Vhost.AmqpUrl.AbsoluteUri;
        options.Environment["Workers__Store__Provider"] = "Postgres";
        options.Environment["Workers__Store__ConnectionString"] = Database.ConnectionString;
        options.Environment["POSTGRES_URL"] = Database.ConnectionString;
        options.Environment["Workers__Agents__Path"] = Path.Combine(Directory, "agents.yaml");
        options.Environment["Workers__Worker__WorkspaceRoot"] = Path.Combine(Directory, "workspaces");
        return options;
    }

    static void WriteAgents(string directory, double agentSeconds)
    {
        // Logs a start line before the work and an end line after it. A killed execution leaves only its start line.
        // Each line is one short O_APPEND write, so concurrent agents never interleave within a line.
        var script = Path.Combine(directory, "count.sh");
        File.WriteAllText(script, """
            #!/usr/bin/env bash
            input=$(cat)
            start=$(date +%s%N)
            echo "start $WORKERS_RUN_ID $WORKERS_ATTEMPT $start $$" >> "$EXECUTION_LOG"
            sleep "$AGENT_SECONDS"
            end=$(date +%s%N)
            echo "end $WORKERS_RUN_ID $WORKERS_ATTEMPT $start $end $$" >> "$EXECUTION_LOG"
            printf '{"type":"result","output":"done %s"}\n' "$input"
            """.Replace("\r", "", StringComparison.Ordinal));
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var seconds = agentSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        File.WriteAllText(Path.Combine(directory, "agents.yaml"), $"""
            agents:
              count:
                runtime: process
                process:
                  command: ./count.sh
                  env:
                    AGENT_SECONDS: "{seconds}"
                    EXECUTION_LOG: "{Path.Combine(directory, "executions.log")}"
            """);
    }

    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync();
        try
        {
            await monitor;
        }
        catch (OperationCanceledException)
        {
        }
        foreach (var process in EveryProcess)
            await process.DisposeAsync();
        await Database.DisposeAsync();
        await Vhost.DisposeAsync();
        stopping.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>One row of the saga table, as the checks read it.</summary>
public sealed record RunRow(Guid RunId, string State, int Attempt, string? WorkerId, string? LastError, DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt, int ReleasedAttempts = 0)
{
    /// <summary>Attempts that counted against the run's budget: handed-back ones do not.</summary>
    public int CountedAttempts => Attempt - ReleasedAttempts;

    public bool Terminal => State is "Succeeded" or "Failed" or "Cancelled" or "Rejected";
}
