using System.Globalization;
using Npgsql;

using Workers.Testing;

namespace Workers.Benchmarks;

/// <summary>
/// The benchmark's one connection to a round's database: progress polls, the final rows and the commit counters.
/// One connection, so every query is exactly one transaction and the benchmark can take its own commits out of
/// the database's count.
/// </summary>
public sealed class RunDatabase : IAsyncDisposable
{
    const string TerminalStates = "('Succeeded','Failed','Cancelled','Rejected')";

    readonly NpgsqlConnection connection;

    RunDatabase(NpgsqlConnection connection) => this.connection = connection;

    /// <summary>Transactions this connection has run (each query is one).</summary>
    public long OwnTransactions { get; private set; }

    public static async Task<RunDatabase> OpenAsync(PostgresTestDatabase database, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(database);
        var builder = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Pooling = false, ApplicationName = "workers-bench" };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
        return new RunDatabase(connection);
    }

    /// <summary>
    /// Committed and rolled-back transactions of the database since it was created (<c>pg_stat_database</c>), once every
    /// other session on it has ended. Call it after the fleet's processes have stopped and this connection is disposed.
    /// </summary>
    /// <remarks>
    /// A PostgreSQL 15 session folds its transaction counts into the shared statistics at most once a second while
    /// busy, and an idle pooled session may hold its last counts until it disconnects; only after every session has
    /// ended are the counts complete. Read on a connection of its own, whose counts are not in the result.
    /// </remarks>
    public static async Task<(long Commits, long Rollbacks)> SettledTransactionCountsAsync(PostgresTestDatabase database, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(database);
        var builder = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Pooling = false, ApplicationName = "workers-bench-stats" };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(30);
        while (true)
        {
            await using var others = new NpgsqlCommand(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()", connection);
            if ((long)(await others.ExecuteScalarAsync(cancellationToken))! == 0)
                break;
            if (TimeProvider.System.GetUtcNow() > deadline)
                throw new TimeoutException($"sessions on {database.Name} still open 30 s after the fleet stopped");
            await Task.Delay(100, cancellationToken);
        }
        await using var command = new NpgsqlCommand("SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>
    /// The database's transaction counts as PostgreSQL has them now: a busy session folds its counts in about once a second,
    /// so this lags the truth by at most about a second of each session's work.
    /// </summary>
    public async Task<(long Commits, long Rollbacks)> TransactionCountsAsync(CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>How many runs are in a terminal state.</summary>
    public async Task<long> TerminalCountAsync(CancellationToken cancellationToken)
    {
        await using var command = Command($"SELECT count(*) FROM runs WHERE current_state IN {TerminalStates}");
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Whether one run is in a terminal state.</summary>
    public async Task<bool> IsTerminalAsync(Guid runId, CancellationToken cancellationToken)
    {
        await using var command = Command($"SELECT count(*) FROM runs WHERE run_id = @id AND current_state IN {TerminalStates}");
        command.Parameters.AddWithValue("id", runId);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))! == 1;
    }

    /// <summary>The rows of these runs.</summary>
    public async Task<List<RunRow>> RowsAsync(IReadOnlyCollection<Guid> runIds, CancellationToken cancellationToken)
    {
        await using var command = Command(
            "SELECT run_id, current_state, attempt, dispatch_count, submitted_at, started_at, finished_at, output FROM runs WHERE run_id = ANY(@ids)");
        command.Parameters.AddWithValue("ids", runIds.ToArray());
        var rows = new List<RunRow>(runIds.Count);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new RunRow(reader.GetGuid(0), reader.GetString(1), reader.GetInt32(2), reader.GetInt32(3),
                reader.GetFieldValue<DateTimeOffset>(4),
                reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
                reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6),
                reader.IsDBNull(7) ? null : reader.GetString(7)));
        }
        return rows;
    }

    /// <summary>Runs in state Running on this worker.</summary>
    public async Task<List<Guid>> RunningOnAsync(string workerId, CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT run_id FROM runs WHERE current_state = 'Running' AND worker_id = @w");
        command.Parameters.AddWithValue("w", workerId);
        return await IdsAsync(command, cancellationToken);
    }

    /// <summary>How many of these runs are in this state.</summary>
    public async Task<long> CountInStateAsync(IReadOnlyCollection<Guid> runIds, string state, CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT count(*) FROM runs WHERE run_id = ANY(@ids) AND current_state = @s");
        command.Parameters.AddWithValue("ids", runIds.ToArray());
        command.Parameters.AddWithValue("s", state);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Which of these runs have not started (no lease granted yet, <c>started_at</c> unset), or are not in the table yet.</summary>
    public async Task<List<Guid>> NotStartedAsync(IReadOnlyCollection<Guid> runIds, CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT id FROM unnest(@ids) AS given(id) WHERE NOT EXISTS (SELECT 1 FROM runs WHERE run_id = given.id AND started_at IS NOT NULL)");
        command.Parameters.AddWithValue("ids", runIds.ToArray());
        return await IdsAsync(command, cancellationToken);
    }

    /// <summary>How many of these runs are terminal.</summary>
    public async Task<long> TerminalCountAsync(IReadOnlyCollection<Guid> runIds, CancellationToken cancellationToken)
    {
        await using var command = Command($"SELECT count(*) FROM runs WHERE run_id = ANY(@ids) AND current_state IN {TerminalStates}");
        command.Parameters.AddWithValue("ids", runIds.ToArray());
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Attempt and state of these runs.</summary>
    public async Task<List<(Guid RunId, int Attempt, string State)>> AttemptsAsync(IReadOnlyCollection<Guid> runIds, CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT run_id, attempt, current_state FROM runs WHERE run_id = ANY(@ids)");
        command.Parameters.AddWithValue("ids", runIds.ToArray());
        var rows = new List<(Guid, int, string)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            rows.Add((reader.GetGuid(0), reader.GetInt32(1), reader.GetString(2)));
        return rows;
    }

    /// <summary>Which of these runs are in this state.</summary>
    public async Task<List<Guid>> InStateAsync(IReadOnlyCollection<Guid> runIds, string state, CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT run_id FROM runs WHERE run_id = ANY(@ids) AND current_state = @s");
        command.Parameters.AddWithValue("ids", runIds.ToArray());
        command.Parameters.AddWithValue("s", state);
        return await IdsAsync(command, cancellationToken);
    }

    /// <summary>The worker registry's row of one worker: when the orchestrator last handled its heartbeat, and its leases then.</summary>
    public async Task<(DateTimeOffset LastSeenAt, int ActiveRuns)?> WorkerSeenAsync(string workerId, CancellationToken cancellationToken)
    {
        await using var command = Command("SELECT last_seen_at, active_runs FROM workers WHERE worker_id = @w");
        command.Parameters.AddWithValue("w", workerId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
            return null;
        return (reader.GetFieldValue<DateTimeOffset>(0), reader.GetInt32(1));
    }

    static async Task<List<Guid>> IdsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var ids = new List<Guid>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            ids.Add(reader.GetGuid(0));
        return ids;
    }

    NpgsqlCommand Command(string sql)
    {
        OwnTransactions++;
        return new NpgsqlCommand(sql, connection);
    }

    public ValueTask DisposeAsync() => connection.DisposeAsync();
}

/// <summary>What a round reads back about one run.</summary>
public sealed record RunRow(Guid RunId, string State, int Attempt, int DispatchCount, DateTimeOffset SubmittedAt, DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt, string? Output)
{
    /// <summary>When the agent started, by its own clock: the output of <see cref="BenchFleet.ClockAgent"/> (ns since the epoch).</summary>
    public DateTimeOffset? AgentStartedAt => long.TryParse(Output, NumberStyles.None, CultureInfo.InvariantCulture, out var ns)
        ? DateTimeOffset.UnixEpoch.AddTicks(ns / 100)
        : null;
}
