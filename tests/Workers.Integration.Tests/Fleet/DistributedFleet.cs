using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Workers.Orchestrator.Api;
using Workers.Testing;

namespace Workers.Integration.Tests.Fleet;

/// <summary>
/// A real distributed fleet for one test: a private RabbitMQ vhost and PostgreSQL database, an orchestrator
/// process and worker processes, and an agents file with a <c>count</c> agent that logs every execution
/// (run id, attempt, start and end in ns, pid) so tests can prove exactly-once and no overlap, and an <c>edit</c> agent
/// that changes its workspace.
/// </summary>
public sealed class DistributedFleet : IAsyncDisposable
{
    readonly List<ManagedProcess> _workers = [];
    readonly List<ManagedProcess> _retiredOrchestrators = [];
    readonly List<ManagedProcess> _moreOrchestrators = [];
    readonly string _directory;

    DistributedFleet(RabbitMqTestVhost vhost, PostgresTestDatabase database, string directory, ManagedProcess orchestrator, Uri api)
    {
        Vhost = vhost;
        Database = database;
        _directory = directory;
        Orchestrator = orchestrator;
        Api = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(30) };
    }

    public RabbitMqTestVhost Vhost { get; }
    public PostgresTestDatabase Database { get; }
    public ManagedProcess Orchestrator { get; private set; }
    public HttpClient Api { get; }
    public IReadOnlyList<ManagedProcess> Workers => _workers;

    /// <summary>Where the agents file, the agents' scripts and the workspaces (under <c>workspaces/</c>) are.</summary>
    public string AgentsDirectory => _directory;

    /// <summary>The execution log the <c>count</c> agent appends to.</summary>
    public string ExecutionLog => Path.Combine(_directory, "executions.log");

    /// <summary>The attempts of the <c>count</c> agent that have started (run id, attempt).</summary>
    public HashSet<(Guid RunId, int Attempt)> Started()
    {
        var log = Path.Combine(_directory, "starts.log");
        if (!File.Exists(log))
            return [];
        return File.ReadAllLines(log).Select(l => l.Split(' ')).Where(p => p.Length == 2)
            .Select(p => (Guid.Parse(p[0]), int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture))).ToHashSet();
    }

    /// <param name="extraAgents">More agent definitions, as YAML entries indented by two spaces (they go under <c>agents:</c>).</param>
    public static async Task<DistributedFleet> StartAsync(double agentSeconds, CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string>? orchestratorSettings = null, string? extraAgents = null)
    {
        var vhost = await RabbitMqTestVhost.CreateAsync(cancellationToken);
        var database = await PostgresTestDatabase.CreateAsync(cancellationToken);
        var directory = Directory.CreateTempSubdirectory("workers-fleet-").FullName;
        WriteAgents(directory, agentSeconds, extraAgents);

        var port = FreePort.Get();
        var api = new Uri($"http://127.0.0.1:{port}/");
        var orchestrator = StartOrchestrator(vhost, database, directory, api, orchestratorSettings);
        var fleet = new DistributedFleet(vhost, database, directory, orchestrator, api);
        await orchestrator.WaitForHttpOkAsync(new Uri(api, "health/ready"), TimeSpan.FromSeconds(60), cancellationToken);
        return fleet;
    }

    static ManagedProcess StartOrchestrator(RabbitMqTestVhost vhost, PostgresTestDatabase database, string directory, Uri api,
        IReadOnlyDictionary<string, string>? settings, string name = "orchestrator")
    {
        var options = Options(name, vhost, database, directory);
        // Each offer of slots it takes in, for WaitForOfferAsync.
        options.Environment["Logging__LogLevel__Workers.Runs.Dispatch.SlotOfferConsumer"] = "Debug";
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
            options.Environment[key] = value;
        return ManagedProcess.StartDotnet(RepoPaths.OrchestratorDll, ["--urls", api.ToString()], options);
    }

    /// <summary>Starts a new orchestrator on the same URL after the old one died (or kills it first), with these settings.</summary>
    public async Task RestartOrchestratorAsync(CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? settings = null)
    {
        Orchestrator.Kill();
        await Orchestrator.WaitForExitAsync(TimeSpan.FromSeconds(10), cancellationToken);
        _retiredOrchestrators.Add(Orchestrator);
        Orchestrator = StartOrchestrator(Vhost, Database, _directory, Api.BaseAddress!, settings);
        await Orchestrator.WaitForHttpOkAsync(new Uri(Api.BaseAddress!, "health/ready"), TimeSpan.FromSeconds(60), cancellationToken);
    }

    /// <summary>
    /// Starts one more orchestrator on the same vhost and database, with an API of its own, and waits until it is ready: the
    /// orchestrators then compete for the saga's queue.
    /// </summary>
    public async Task<Uri> AddOrchestratorAsync(CancellationToken cancellationToken)
    {
        var api = new Uri($"http://127.0.0.1:{FreePort.Get()}/");
        var orchestrator = StartOrchestrator(Vhost, Database, _directory, api, null, $"orchestrator-{_moreOrchestrators.Count + 2}");
        _moreOrchestrators.Add(orchestrator);
        await orchestrator.WaitForHttpOkAsync(new Uri(api, "health/ready"), TimeSpan.FromSeconds(60), cancellationToken);
        return api;
    }

    /// <summary>
    /// Waits until the orchestrator takes in an offer of slots from <paramref name="workerId"/> made after this call began: that
    /// offer is live for the next second.
    /// </summary>
    public async Task WaitForOfferAsync(string workerId, CancellationToken cancellationToken)
    {
        var line = $"Worker {workerId} offers ";
        int Offers() => Orchestrator.Output.Count(l => l.Contains(line, StringComparison.Ordinal));
        var before = Offers();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Offers() <= before)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"no offer of slots from {workerId} within 30 s.\n{Orchestrator.OutputTail()}");
            await Task.Delay(20, cancellationToken);
        }
    }

    /// <summary>Starts a worker process and waits until it shows in the registry.</summary>
    /// <param name="awaitRegistration">Wait until the orchestrator lists the worker alive (from its first heartbeat).</param>
    public async Task<ManagedProcess> AddWorkerAsync(int slots, CancellationToken cancellationToken, string? name = null,
        IReadOnlyDictionary<string, string>? settings = null, bool awaitRegistration = true)
    {
        var id = name ?? $"worker-{_workers.Count + 1}";
        var options = Options(id, Vhost, Database, _directory);
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
            options.Environment[key] = value;
        options.Environment["Workers__Worker__WorkerId"] = id;
        options.Environment["Workers__Worker__Slots"] = slots.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var worker = ManagedProcess.StartDotnet(RepoPaths.WorkerDll, [], options);
        _workers.Add(worker);
        if (!awaitRegistration)
            return worker;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var workers = await Api.GetFromJsonAsync<List<WorkerView>>("api/workers", JsonSerializerOptions.Web, cancellationToken);
            if (workers!.Any(w => w.WorkerId == id && w.Status == "alive"))
                return worker;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"worker {id} did not register within 60 s.\n{worker.OutputTail()}");
            await Task.Delay(200, cancellationToken);
        }
    }

    public Task<Guid> SubmitAsync(string agent, string input, int priority, CancellationToken cancellationToken) =>
        SubmitAsync(new SubmitRunRequest { Agent = agent, Input = input, Priority = priority }, cancellationToken);

    public async Task<Guid> SubmitAsync(SubmitRunRequest request, CancellationToken cancellationToken)
    {
        using var response = await Api.PostAsJsonAsync("api/runs", request, JsonSerializerOptions.Web, cancellationToken);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<RunAccepted>(JsonSerializerOptions.Web, cancellationToken))!.RunId;
    }

    /// <summary>Submits many runs, a few requests at a time.</summary>
    public async Task<List<Guid>> SubmitManyAsync(IEnumerable<(string Agent, string Input, int Priority)> runs, CancellationToken cancellationToken)
    {
        var ids = new List<Guid>();
        foreach (var chunk in runs.Chunk(16))
            ids.AddRange(await Task.WhenAll(chunk.Select(r => SubmitAsync(r.Agent, r.Input, r.Priority, cancellationToken))));
        return ids;
    }

    /// <summary>Waits until every run is in a terminal state in the saga table.</summary>
    public async Task WaitForTerminalAsync(IReadOnlyCollection<Guid> runIds, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            await using var connection = await Database.OpenConnectionAsync(cancellationToken);
            await using var command = new NpgsqlCommand(
                "SELECT count(*) FROM runs WHERE run_id = ANY(@ids) AND current_state IN ('Succeeded','Failed','Cancelled','Rejected','TimedOut')", connection);
            command.Parameters.AddWithValue("ids", runIds.ToArray());
            var done = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
            if (done == runIds.Count)
                return;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{runIds.Count - done} of {runIds.Count} runs not finished after {timeout}.\n{Orchestrator.OutputTail(20)}");
            await Task.Delay(250, cancellationToken);
        }
    }

    /// <summary>Rows of the saga table for these runs.</summary>
    public async Task<List<RunRow>> RowsAsync(IReadOnlyCollection<Guid> runIds, CancellationToken cancellationToken)
    {
        await using var connection = await Database.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            """
            SELECT run_id, current_state, attempt, priority, worker_id, output, submitted_at, started_at, finished_at, lease_id, last_error
            FROM runs WHERE run_id = ANY(@ids)
            """, connection);
        command.Parameters.AddWithValue("ids", runIds.ToArray());
        var rows = new List<RunRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new RunRow(reader.GetGuid(0), reader.GetString(1), reader.GetInt32(2), reader.GetInt32(3),
                reader.IsDBNull(4) ? null : reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.GetFieldValue<DateTimeOffset>(6), reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7),
                reader.IsDBNull(8) ? null : reader.GetFieldValue<DateTimeOffset>(8), reader.IsDBNull(9) ? null : reader.GetGuid(9),
                reader.IsDBNull(10) ? null : reader.GetString(10)));
        }
        return rows;
    }

    /// <summary>The fleet's directory (agents file, logs, fake tools).</summary>
    public string Root => _directory;

    /// <summary>The run as the API shows it.</summary>
    public async Task<RunView> GetRunAsync(Guid runId, CancellationToken cancellationToken) =>
        (await Api.GetFromJsonAsync<RunView>($"api/runs/{runId}", JsonSerializerOptions.Web, cancellationToken))!;

    /// <summary>The run's whole event log.</summary>
    public async Task<List<RunEventView>> EventsAsync(Guid runId, CancellationToken cancellationToken) =>
        (await Api.GetFromJsonAsync<RunEventPage>($"api/runs/{runId}/events?limit=1000", JsonSerializerOptions.Web, cancellationToken))!.Items.ToList();

    /// <summary>Processes the <c>hang</c> agent started: run id, attempt, pid.</summary>
    public List<(Guid RunId, int Attempt, int Pid)> HangingAgents() =>
        !File.Exists(Path.Combine(_directory, "hang.log")) ? [] : File.ReadAllLines(Path.Combine(_directory, "hang.log")).Where(l => l.Length > 0)
            .Select(l => l.Split(' ')).Select(p => (Guid.Parse(p[0]), int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture),
                int.Parse(p[2], System.Globalization.CultureInfo.InvariantCulture))).ToList();

    /// <summary>Every tick the <c>stubborn</c> agent logged: run id, attempt, pid, time.</summary>
    public List<(Guid RunId, int Attempt, int Pid, DateTimeOffset At)> StubbornTicks() =>
        !File.Exists(Path.Combine(_directory, "ticks.log")) ? [] : File.ReadAllLines(Path.Combine(_directory, "ticks.log")).Where(l => l.Length > 0)
            .Select(l => l.Split(' ')).Where(p => p.Length == 4)
            .Select(p => (Guid.Parse(p[0]), int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture),
                int.Parse(p[2], System.Globalization.CultureInfo.InvariantCulture),
                DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(p[3], System.Globalization.CultureInfo.InvariantCulture) / 1000))).ToList();

    /// <summary>Every SIGTERM the <c>stubborn</c> agent got: run id, attempt, pid.</summary>
    public List<(Guid RunId, int Attempt, int Pid)> StubbornTerms() =>
        !File.Exists(Path.Combine(_directory, "ticks.log.term")) ? [] : File.ReadAllLines(Path.Combine(_directory, "ticks.log.term")).Where(l => l.Length > 0)
            .Select(l => l.Split(' ')).Select(p => (Guid.Parse(p[0]), int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture),
                int.Parse(p[2], System.Globalization.CultureInfo.InvariantCulture))).ToList();

    /// <summary>Every execution the <c>count</c> agent recorded.</summary>
    public List<Execution> Executions() =>
        !File.Exists(ExecutionLog) ? [] : File.ReadAllLines(ExecutionLog).Where(l => l.Length > 0).Select(Execution.Parse).ToList();

    static ManagedProcessOptions Options(string name, RabbitMqTestVhost vhost, PostgresTestDatabase database, string directory)
    {
        var options = new ManagedProcessOptions { Name = name, WorkingDirectory = directory, Log = TestOutput.ForCurrentTest() };
        options.Environment["Workers__Bus__Transport"] = "RabbitMq";
        options.Environment["Workers__Bus__RabbitMqUrl"] = vhost.AmqpUrl.ToString();
        options.Environment["Workers__Store__Provider"] = "Postgres";
        options.Environment["Workers__Store__ConnectionString"] = database.ConnectionString;
        options.Environment["Workers__Agents__Path"] = Path.Combine(directory, "agents.yaml");
        options.Environment["Workers__Worker__WorkspaceRoot"] = Path.Combine(directory, "workspaces");
        return options;
    }

    static void WriteAgents(string directory, double agentSeconds, string? extraAgents)
    {
        var script = Path.Combine(directory, "count.sh");
        File.WriteAllText(script, """
            #!/usr/bin/env bash
            # Records each execution: run id, attempt, start/end (ns), pid. Appends are atomic (one short line, O_APPEND).
            # Its start goes to a log of its own, so a test can wait until the agent is really running on its worker.
            echo "$WORKERS_RUN_ID $WORKERS_ATTEMPT" >> "$START_LOG"
            input=$(cat)
            start=$(date +%s%N)
            sleep "$AGENT_SECONDS"
            end=$(date +%s%N)
            echo "$WORKERS_RUN_ID $WORKERS_ATTEMPT $start $end $$" >> "$EXECUTION_LOG"
            printf '{"type":"result","output":"done %s"}\n' "$input"
            """.Replace("\r", "", StringComparison.Ordinal));
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        WriteScript(directory, "hang.sh", """
            #!/usr/bin/env bash
            # Says it started, then makes no progress at all (for stall and attempt timeouts); logs its pid to prove it is killed.
            echo "$WORKERS_RUN_ID $WORKERS_ATTEMPT $$" >> "$HANG_LOG"
            printf '{"type":"message","text":"started, now hanging"}\n'
            exec sleep 600
            """);
        WriteScript(directory, "stubborn.sh", """
            #!/usr/bin/env bash
            # Survives SIGTERM (its sleep may not: the next one starts) and logs a tick every 50 ms while it runs: run id,
            # attempt, pid, microseconds since the epoch. Only SIGKILL ends it; the last tick says when. Each SIGTERM it gets
            # is logged to the .term file beside the ticks: run id, attempt, pid.
            trap 'echo "$WORKERS_RUN_ID $WORKERS_ATTEMPT $$" >> "$TICK_LOG.term"' TERM
            while :; do
              echo "$WORKERS_RUN_ID $WORKERS_ATTEMPT $$ ${EPOCHREALTIME//[.,]/}" >> "$TICK_LOG"
              sleep 0.05
            done
            """);
        WriteScript(directory, "chatty.sh", """
            #!/usr/bin/env bash
            # One of each event the process protocol has, then a result.
            input=$(cat)
            printf '{"type":"message","text":"looking at %s"}\n' "$input"
            printf '{"type":"tool_started","tool":"grep","input":"needle","callId":"c1"}\n'
            printf '{"type":"tool_completed","tool":"grep","output":"found it","isError":false,"callId":"c1"}\n'
            printf '{"type":"usage","steps":1,"inputTokens":120,"outputTokens":30,"costUsd":0.001}\n'
            printf '{"type":"result","output":"answer"}\n'
            """);
        WriteEditAgent(directory);
        var seconds = agentSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
        File.WriteAllText(Path.Combine(directory, "agents.yaml"), $"""
            agents:
              count:
                runtime: process
                process:
                  command: ./count.sh
                  env:
                    AGENT_SECONDS: "{seconds}"
                    EXECUTION_LOG: "{Path.Combine(directory, "executions.log")}"
                    START_LOG: "{Path.Combine(directory, "starts.log")}"
              hang:
                runtime: process
                process:
                  command: ./hang.sh
                  env:
                    HANG_LOG: "{Path.Combine(directory, "hang.log")}"
              stubborn:
                runtime: process
                process:
                  command: ./stubborn.sh
                  env:
                    TICK_LOG: "{Path.Combine(directory, "ticks.log")}"
              chatty:
                runtime: process
                process:
                  command: ./chatty.sh
              reviewer:
                description: runs on Claude Code only (a fake claude CLI that only some workers have)
                runtime: claude-code
                claude-code:
                  maxTurns: 3
              edit:
                runtime: process
                process:
                  command: ./edit.sh
            """ + (extraAgents is null ? "" : "\n" + extraAgents.TrimEnd() + "\n"));
    }

    static void WriteScript(string directory, string name, string text)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, text.Replace("\r", "", StringComparison.Ordinal));
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>
    /// The <c>edit</c> agent works in its workspace (a clone, when the run names a repository): appends to the tracked
    /// README.md, writes a new NOTES.md, reports both shell commands as tool events, and leaves its workspace path in
    /// <c>workspace-{run id}.txt</c> beside the agents file so a test can check the directory is gone afterwards.
    /// </summary>
    static void WriteEditAgent(string directory)
    {
        var script = Path.Combine(directory, "edit.sh");
        File.WriteAllText(script, """
            #!/usr/bin/env bash
            set -euo pipefail
            input=$(cat)
            echo "$WORKERS_WORKSPACE" > "$WORKERS_AGENT_DIR/workspace-$WORKERS_RUN_ID.txt"
            printf '{"type":"tool_started","tool":"shell","input":"echo edited >> README.md","callId":"1"}\n'
            echo "edited" >> README.md
            printf '{"type":"tool_completed","tool":"shell","callId":"1"}\n'
            printf '{"type":"tool_started","tool":"Bash","input":{"command":"echo notes > NOTES.md"},"callId":"2"}\n'
            echo "notes: $input" > NOTES.md
            printf '{"type":"tool_completed","tool":"Bash","callId":"2"}\n'
            printf '{"type":"result","output":"Edited README.md and wrote NOTES.md"}\n'
            """.Replace("\r", "", StringComparison.Ordinal));
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public async ValueTask DisposeAsync()
    {
        Api.Dispose();
        foreach (var worker in _workers)
            await worker.DisposeAsync();
        await Orchestrator.DisposeAsync();
        foreach (var more in _moreOrchestrators)
            await more.DisposeAsync();
        foreach (var retired in _retiredOrchestrators)
            await retired.DisposeAsync();
        await Database.DisposeAsync();
        await Vhost.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>One row of the saga table, as the tests check it.</summary>
public sealed record RunRow(Guid RunId, string State, int Attempt, int Priority, string? WorkerId, string? Output, DateTimeOffset SubmittedAt,
    DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, Guid? LeaseId, string? LastError);

/// <summary>One execution the <c>count</c> agent recorded.</summary>
public sealed record Execution(Guid RunId, int Attempt, long StartNs, long EndNs, int Pid)
{
    public static Execution Parse(string line)
    {
        var parts = line.Split(' ');
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        return new Execution(Guid.Parse(parts[0]), int.Parse(parts[1], inv), long.Parse(parts[2], inv), long.Parse(parts[3], inv), int.Parse(parts[4], inv));
    }
}
