using System.Data.Common;
using System.Globalization;
using System.Text;
using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Workers.Contracts;
using Workers.Runs.StateMachine;

namespace Workers.Runs.Persistence;

/// <summary>
/// The saga-state table and the worker registry in PostgreSQL or SQLite. Every run write is guarded by the
/// row's version (optimistic concurrency); writers outside the saga (heartbeats, the sweeper) bump it too, so
/// no transition is ever lost to a stale write.
/// </summary>
public sealed partial class RunStore : IAsyncDisposable
{
    readonly DbDataSource _dataSource;
    readonly string _loadSql;
    readonly string _insertSql;
    readonly string _updateSql;
    readonly RunInsertGroup _inserts;
    readonly RunRowCache _copies;

    /// <param name="dialect">PostgreSQL or SQLite.</param>
    /// <param name="connectionString">The ADO.NET connection string of the database.</param>
    /// <param name="logger">Where the store says when it stops starting writes from its copies for a while.</param>
    public RunStore(SqlDialect dialect, string connectionString, ILogger<RunStore>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(dialect);
        _copies = new RunRowCache(paused: (stale, writes) => LogCopiesPaused(logger ?? NullLogger<RunStore>.Instance, stale, writes,
            RunRowCache.Cooldown.TotalSeconds));
        Dialect = dialect;
        _dataSource = dialect.CreateDataSource(connectionString);
        _loadSql = $"SELECT {RunColumns.SelectList} FROM runs WHERE run_id = {dialect.Placeholder(1, "run_id")}";
        _insertSql = RunColumns.InsertSql(dialect);
        _updateSql = RunColumns.UpdateSql(dialect);
        _inserts = new RunInsertGroup(InsertAllAsync, InsertOneAsync);
    }

    public SqlDialect Dialect { get; }

    internal DbDataSource DataSource => _dataSource;

    public async Task<RunState?> LoadAsync(Guid runId, CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand(_loadSql);
        command.AddParameter(Dialect.ParameterName("run_id"), Dialect.ToDb(runId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? RunColumns.Read(reader, Dialect) : null;
    }

    /// <summary>
    /// The run with this id, to be changed and written back: the copy of what this store last wrote of it where it has one
    /// (<see cref="RunRowCache"/>), else the row. Pass <paramref name="fresh"/> to read the row whatever: on a retry after a
    /// conflict, or for a redelivered message.
    /// </summary>
    public Task<RunState?> LoadForUpdateAsync(Guid runId, bool fresh, CancellationToken cancellationToken = default) =>
        !fresh && _copies.Get(runId) is { } copy ? Task.FromResult<RunState?>(copy) : LoadAsync(runId, cancellationToken);

    /// <summary>
    /// The runs with these ids that exist, by id, to be changed and written back with <see cref="UpdateAllAsync"/>: copies
    /// where this store has them, the rest in one query (see <see cref="LoadForUpdateAsync"/>).
    /// </summary>
    public async Task<Dictionary<Guid, RunState>> LoadManyForUpdateAsync(IReadOnlyCollection<Guid> runIds, bool fresh,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(runIds);
        if (fresh || !_copies.Serving)
            return await LoadManyAsync(runIds, cancellationToken).ConfigureAwait(false);
        var copies = new Dictionary<Guid, RunState>(runIds.Count);
        List<Guid>? missing = null;
        foreach (var runId in runIds)
        {
            if (_copies.Get(runId) is { } copy)
                copies[runId] = copy;
            else
                (missing ??= []).Add(runId);
        }
        if (missing is null)
            return copies;
        var runs = await LoadManyAsync(missing, cancellationToken).ConfigureAwait(false);
        foreach (var (runId, run) in copies)
            runs[runId] = run;
        return runs;
    }

    /// <summary>Whether <paramref name="run"/> came from this store's copies rather than from the table.</summary>
    public bool IsCopy(RunState run) => _copies.IsHandedOut(run);

    /// <summary>
    /// The rows of <paramref name="loaded"/> read again from the table. A copy may justify a write, whose version check
    /// catches a stale copy, but not a decision to write nothing (a success ignored, a claim refused): such a decision is
    /// made again on the rows.
    /// </summary>
    public async Task<Dictionary<Guid, RunState>> ReadAgainAsync(IReadOnlyDictionary<Guid, RunState> loaded, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        var rows = await LoadManyAsync([.. loaded.Keys], cancellationToken).ConfigureAwait(false);
        foreach (var (runId, run) in loaded)
        {
            if (_copies.IsHandedOut(run))
                _copies.Checked(run, rows.TryGetValue(runId, out var row) ? row.Version : null);
        }
        return rows;
    }

    /// <summary>
    /// Inserts a new run, together with the others asked for meanwhile (<see cref="RunInsertGroup"/>); a run with the same
    /// id already there is a concurrency conflict (the retry loads it).
    /// </summary>
    public async Task InsertAsync(RunState run, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        run.Version = 1;
        await _inserts.InsertAsync(run, cancellationToken).ConfigureAwait(false);
        _copies.Written([run]);
    }

    async Task<bool> InsertOneAsync(RunState run)
    {
        await using var command = _dataSource.CreateCommand(_insertSql);
        BindInsert((name, value) => command.AddParameter(name, value), run);
        return await command.ExecuteNonQueryAsync().ConfigureAwait(false) > 0;
    }

    /// <summary>Inserts the runs in one transaction; for each, whether it was new.</summary>
    async Task<bool[]> InsertAllAsync(IReadOnlyList<RunState> runs)
    {
        await using var connection = await _dataSource.OpenConnectionAsync().ConfigureAwait(false);
        // PostgreSQL runs the statements of a batch as one implicit transaction; one after another, they need an explicit one.
        await using var transaction = connection.CanCreateBatch ? null : await connection.BeginTransactionAsync().ConfigureAwait(false);
        var affected = await ExecuteEachAsync(connection, transaction, _insertSql, runs, BindInsert, CancellationToken.None).ConfigureAwait(false);
        if (transaction is not null)
            await transaction.CommitAsync().ConfigureAwait(false);
        return Array.ConvertAll(affected, rows => rows > 0);
    }

    void BindInsert(Action<string, object?> add, RunState run) => RunColumns.AddParameters(add, run, Dialect);

    /// <summary>
    /// Runs <paramref name="sql"/> once per run, with the parameters <paramref name="bind"/> gives, on one connection and
    /// in <paramref name="transaction"/>: in one round trip where the provider batches (PostgreSQL), else one statement
    /// after another. Returns the rows each statement affected, in the order of <paramref name="runs"/>.
    /// </summary>
    static async Task<int[]> ExecuteEachAsync(DbConnection connection, DbTransaction? transaction, string sql, IReadOnlyList<RunState> runs,
        Action<Action<string, object?>, RunState> bind, CancellationToken cancellationToken)
    {
        var affected = new int[runs.Count];
        if (connection.CanCreateBatch)
        {
            await using var batch = connection.CreateBatch();
            batch.Transaction = transaction;
            foreach (var run in runs)
            {
                var command = batch.CreateBatchCommand();
                command.CommandText = sql;
                bind((name, value) => command.AddParameter(name, value), run);
                batch.BatchCommands.Add(command);
            }
            await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < runs.Count; i++)
                affected[i] = batch.BatchCommands[i].RecordsAffected;
            return affected;
        }
        for (var i = 0; i < runs.Count; i++)
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = sql;
            bind((name, value) => command.AddParameter(name, value), runs[i]);
            affected[i] = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        return affected;
    }

    /// <summary>Writes the run if nobody wrote it since it was read; otherwise throws <see cref="ConcurrencyException"/>.</summary>
    public async Task UpdateAsync(RunState run, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        try
        {
            await using var command = _dataSource.CreateCommand();
            await WriteVersionedAsync(command, run, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _copies.Failed([run], ex is ConcurrencyException ? run : null);
            throw;
        }
        _copies.Written([run]);
    }

    /// <summary>
    /// Writes the run as the next version if its row still has the version it was read at; otherwise throws
    /// <see cref="ConcurrencyException"/>. On any failure the run keeps the version it was read at.
    /// </summary>
    async Task WriteVersionedAsync(DbCommand command, RunState run, CancellationToken cancellationToken)
    {
        var expected = run.Version;
        try
        {
            command.CommandText = _updateSql;
            PrepareVersionedWrite((name, value) => command.AddParameter(name, value), run);
            if (await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 0)
                throw Changed(run, expected);
        }
        catch
        {
            run.Version = expected;
            throw;
        }
    }

    /// <summary>Sets the run to its next version and gives the update's parameters: every column, then the version read.</summary>
    void PrepareVersionedWrite(Action<string, object?> add, RunState run)
    {
        var expected = run.Version;
        run.Version = expected + 1;
        RunColumns.AddParameters(add, run, Dialect);
        add(Dialect.ParameterName("expected_version"), expected);
    }

    static ConcurrencyException Changed(RunState run, int expected) =>
        new($"run {run.CorrelationId} changed since version {expected} was read", typeof(RunState), run.CorrelationId);

    /// <summary>The runs with these ids that exist, by id, in one query.</summary>
    public async Task<Dictionary<Guid, RunState>> LoadManyAsync(IReadOnlyCollection<Guid> runIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(runIds);
        var runs = new Dictionary<Guid, RunState>(runIds.Count);
        if (runIds.Count == 0)
            return runs;
        await using var command = _dataSource.CreateCommand();
        if (Dialect.Provider == StoreProvider.Postgres)
        {
            // One statement text whatever the count, so it stays prepared.
            command.CommandText = $"SELECT {RunColumns.SelectList} FROM runs WHERE run_id = ANY($1)";
            command.AddParameter("", runIds.ToArray());
        }
        else
        {
            var names = new StringBuilder();
            var i = 0;
            foreach (var runId in runIds)
            {
                var name = string.Create(CultureInfo.InvariantCulture, $"id{i++}");
                names.Append(names.Length == 0 ? "@" : ", @").Append(name);
                command.AddParameter(name, Dialect.ToDb(runId));
            }
            command.CommandText = $"SELECT {RunColumns.SelectList} FROM runs WHERE run_id IN ({names})";
        }
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var run = RunColumns.Read(reader, Dialect);
            runs[run.CorrelationId] = run;
        }
        return runs;
    }

    /// <summary>
    /// Writes all the runs in one transaction, each only if nobody wrote it since it was read; if any was, none is written
    /// and <see cref="ConcurrencyException"/> is thrown (the caller reads them again).
    /// </summary>
    public async Task UpdateAllAsync(IReadOnlyList<RunState> runs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(runs);
        if (runs.Count <= 1)
        {
            if (runs.Count == 1)
                await UpdateAsync(runs[0], cancellationToken).ConfigureAwait(false);
            return;
        }
        var readAt = runs.Select(r => r.Version).ToArray();
        RunState? stale = null;
        try
        {
            // In key order, as the heartbeat's renewals, so two batches that share rows lock them in the same order.
            var ordered = runs.OrderBy(r => r.CorrelationId).ToList();
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            var affected = await ExecuteEachAsync(connection, transaction, _updateSql, ordered, PrepareVersionedWrite, cancellationToken)
                .ConfigureAwait(false);
            for (var i = 0; i < ordered.Count && stale is null; i++)
                stale = affected[i] == 0 ? ordered[i] : null;
            if (stale is not null)
                throw Changed(stale, stale.Version - 1);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // The transaction rolled back: the runs written before the failure are not written either.
            for (var i = 0; i < runs.Count; i++)
                runs[i].Version = readAt[i];
            _copies.Failed(runs, stale);
            throw;
        }
        _copies.Written(runs);
    }

    public async Task DeleteAsync(Guid runId, CancellationToken cancellationToken = default)
    {
        _copies.Forget([runId]);
        await using var command = _dataSource.CreateCommand("DELETE FROM runs WHERE run_id = @run_id");
        command.AddParameter("run_id", Dialect.ToDb(runId));
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs newest first, filtered, paged by an opaque keyset cursor.</summary>
    public async Task<(IReadOnlyList<RunState> Runs, string? NextCursor)> QueryAsync(RunQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var sql = new StringBuilder($"SELECT {RunColumns.SelectList} FROM runs WHERE 1 = 1");
        await using var command = _dataSource.CreateCommand();
        void Filter(string column, string? value)
        {
            if (value is null)
                return;
            sql.Append(CultureInfo.InvariantCulture, $" AND {column} = @{column}");
            command.AddParameter(column, value);
        }
        Filter("current_state", query.State);
        Filter("runtime", query.Runtime);
        Filter("agent", query.Agent);
        Filter("tenant", query.Tenant);
        if (query.Cursor is { } cursor)
        {
            sql.Append(" AND (submitted_at < @cursor_at OR (submitted_at = @cursor_at AND run_id < @cursor_id))");
            command.AddParameter("cursor_at", Dialect.ToDb(cursor.SubmittedAt));
            command.AddParameter("cursor_id", Dialect.ToDb(cursor.RunId));
        }
        sql.Append(" ORDER BY submitted_at DESC, run_id DESC LIMIT @limit");
        command.AddParameter("limit", query.Limit + 1);
        command.CommandText = sql.ToString();

        var runs = new List<RunState>(query.Limit + 1);
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                runs.Add(RunColumns.Read(reader, Dialect));
        }
        if (runs.Count <= query.Limit)
            return (runs, null);
        runs.RemoveAt(runs.Count - 1);
        var last = runs[^1];
        return (runs, new RunCursor(last.SubmittedAt, last.CorrelationId).Encode());
    }

    /// <summary>Runs per state and the age of the oldest queued run: what an autoscaler and a dashboard need.</summary>
    public async Task<RunCounts> CountAsync(CancellationToken cancellationToken = default)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        await using (var command = _dataSource.CreateCommand("SELECT current_state, COUNT(*) FROM runs GROUP BY current_state"))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                counts[reader.GetString(0)] = reader.GetInt64(1);
        }
        DateTimeOffset? oldestQueued = null;
        await using (var command = _dataSource.CreateCommand("SELECT MIN(submitted_at) FROM runs WHERE current_state = @state"))
        {
            command.AddParameter("state", RunStates.Queued);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false) && !reader.IsDBNull(0))
                oldestQueued = Dialect.ReadTime(reader, 0);
        }
        return new RunCounts(counts, oldestQueued);
    }

    /// <summary>
    /// Takes up to <paramref name="batch"/> runs whose timer is due and pushes their due time to
    /// <paramref name="recheckAt"/>, in one statement: if the timer message is lost, the run comes due again then.
    /// Rows another sweeper holds are skipped, so several orchestrators share the work.
    /// </summary>
    public async Task<IReadOnlyList<DueRun>> TakeDueAsync(DateTimeOffset now, DateTimeOffset recheckAt, int batch, CancellationToken cancellationToken = default)
    {
        var sql = $"""
            UPDATE runs SET due_at = @recheck_at, version = version + 1
            WHERE run_id IN (SELECT run_id FROM runs WHERE due_at <= @now ORDER BY due_at LIMIT @batch {Dialect.SkipLocked})
            RETURNING run_id, current_state, attempt, lease_id, deadline_at, stall_deadline_at, runtime, priority, error_kind, queued_at
            """;
        await using var command = _dataSource.CreateCommand(sql);
        command.AddParameter("recheck_at", Dialect.ToDb(recheckAt));
        command.AddParameter("now", Dialect.ToDb(now));
        command.AddParameter("batch", batch);
        var due = new List<DueRun>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var state = reader.GetString(1);
            var deadlinePassed = (!reader.IsDBNull(4) && Dialect.ReadTime(reader, 4) <= now)
                || (state == RunStates.Running && !reader.IsDBNull(5) && Dialect.ReadTime(reader, 5) <= now);
            due.Add(new DueRun(Dialect.ReadGuid(reader, 0), state, reader.GetInt32(2),
                reader.IsDBNull(3) ? null : Dialect.ReadGuid(reader, 3), deadlinePassed)
            {
                Runtime = reader.GetString(6),
                Priority = reader.GetInt32(7),
                ErrorKind = reader.IsDBNull(8) ? null : reader.GetString(8),
                QueuedAt = reader.IsDBNull(9) ? null : Dialect.ReadTime(reader, 9),
            });
        }
        _copies.Forget(due.Select(d => d.RunId));
        return due;
    }

    /// <summary>
    /// Moves the re-dispatch timer of queued attempts that are only waiting their turn, in one transaction, without the
    /// saga: a deep backlog then costs no timer message per run. A row whose attempt or state changed meanwhile is left alone.
    /// </summary>
    public async Task PostponeRedispatchAsync(IReadOnlyCollection<(Guid RunId, int Attempt, DateTimeOffset RedispatchAt)> runs,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(runs);
        if (runs.Count == 0)
            return;
        try
        {
            await PostponeAllAsync(runs, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _copies.Forget(runs.Select(r => r.RunId));
        }
    }

    async Task PostponeAllAsync(IReadOnlyCollection<(Guid RunId, int Attempt, DateTimeOffset RedispatchAt)> runs, CancellationToken cancellationToken)
    {
        if (Dialect.Provider == StoreProvider.Postgres)
        {
            // One statement for the whole batch: a deep backlog postpones thousands of timers a minute.
            await using var all = _dataSource.CreateCommand("""
                UPDATE runs SET redispatch_at = v.redispatch_at, due_at = LEAST(v.redispatch_at, runs.deadline_at), version = runs.version + 1
                FROM unnest($1::uuid[], $2::integer[], $3::timestamptz[]) AS v(run_id, attempt, redispatch_at)
                WHERE runs.run_id = v.run_id AND runs.attempt = v.attempt AND runs.current_state = $4
                """);
            all.AddParameter("", runs.Select(r => r.RunId).ToArray());
            all.AddParameter("", runs.Select(r => r.Attempt).ToArray());
            all.AddParameter("", runs.Select(r => r.RedispatchAt.ToUniversalTime()).ToArray());
            all.AddParameter("", RunStates.Queued);
            await all.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        await UpdateEachAsync($"""
            UPDATE runs SET redispatch_at = @redispatch_at, due_at = {Dialect.Earliest("@redispatch_at", "deadline_at")}, version = version + 1
            WHERE run_id = @run_id AND attempt = @attempt AND current_state = @state
            """, runs, (command, run) =>
        {
            command.AddParameter("redispatch_at", Dialect.ToDb(run.RedispatchAt));
            command.AddParameter("run_id", Dialect.ToDb(run.RunId));
            command.AddParameter("attempt", run.Attempt);
            command.AddParameter("state", RunStates.Queued);
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One guarded statement per row, all in one transaction.</summary>
    async Task UpdateEachAsync<T>(string sql, IEnumerable<T> rows, Action<DbCommand, T> bind, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        foreach (var row in rows)
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = sql;
            bind(command, row);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Moves the timer of attempts whose lease lapsed to <paramref name="judgeAt"/>, when the lapse can be judged (see
    /// <c>HeartbeatHearing</c>), or to their deadline if that comes first. A row whose lease changed meanwhile is left alone.
    /// </summary>
    public async Task PostponeLeaseLapsesAsync(IReadOnlyCollection<(Guid RunId, Guid LeaseId)> runs, DateTimeOffset judgeAt,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(runs);
        if (runs.Count == 0)
            return;
        try
        {
            await UpdateEachAsync($"""
                UPDATE runs SET due_at = {Dialect.Earliest("@judge_at", "deadline_at", "stall_deadline_at")}, version = version + 1
                WHERE run_id = @run_id AND lease_id = @lease_id
                """, runs, (command, run) =>
            {
                command.AddParameter("judge_at", Dialect.ToDb(judgeAt));
                command.AddParameter("run_id", Dialect.ToDb(run.RunId));
                command.AddParameter("lease_id", Dialect.ToDb(run.LeaseId));
            }, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _copies.Forget(runs.Select(r => r.RunId));
        }
    }

    /// <summary>
    /// Extends every lease in the heartbeat that is still the run's current lease of a running attempt, records the
    /// progress it carries, and refreshes the worker registry. Returns the leases the worker must give up, with why, and the
    /// hand-overs on the offers it gave up (<see cref="WorkerHeartbeat.ForgottenOffers"/>) that never reached it.
    /// </summary>
    public async Task<LeaseRenewal> RenewLeasesAsync(WorkerHeartbeat heartbeat, DateTimeOffset now, DateTimeOffset expiresAt,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(heartbeat);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

        var neverDelivered = heartbeat.ForgottenOffers.Count == 0
            ? []
            : await FindNeverDeliveredAsync(connection, transaction, heartbeat, cancellationToken).ConfigureAwait(false);
        // A lease that never arrived is held on a little longer, until its hand-back reaches the saga: a lapse the saga has not
        // judged yet then finds the lease live and leaves the run to the hand-back, which does not spend the attempt. Nobody
        // runs it meanwhile; should the hand-back be lost, the lease lapses as any other.
        var toRenew = neverDelivered.Count == 0
            ? heartbeat.Leases
            : [.. heartbeat.Leases, .. neverDelivered.Where(d => d.Running).Select(d => new HeldLease { RunId = d.Release.RunId, Attempt = d.Release.Attempt, LeaseId = d.Release.LeaseId })];
        var renewed = Dialect.Provider == StoreProvider.Postgres
            ? await RenewAllAsync(connection, transaction, toRenew, now, expiresAt, cancellationToken).ConfigureAwait(false)
            : await RenewEachAsync(connection, transaction, toRenew, now, expiresAt, cancellationToken).ConfigureAwait(false);

        var lost = new List<LostLease>();
        foreach (var lease in heartbeat.Leases.Where(l => !renewed.Contains(l.RunId)))
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "SELECT current_state, lease_id, attempt, worker_id FROM runs WHERE run_id = @run_id";
            command.AddParameter("run_id", Dialect.ToDb(lease.RunId));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var reason = "no such run";
            var stopping = false;
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var state = reader.GetString(0);
                var currentLease = reader.IsDBNull(1) ? (Guid?)null : Dialect.ReadGuid(reader, 1);
                stopping = state is RunStates.Cancelling or RunStates.TimingOut && currentLease == lease.LeaseId;
                reason = stopping && state == RunStates.Cancelling ? LostLeaseReasons.CancelRequested
                    : currentLease != lease.LeaseId ? $"lease superseded: attempt {reader.GetInt32(2)} is held by '{(reader.IsDBNull(3) ? "nobody" : reader.GetString(3))}'"
                    : $"the run is {state}";
            }
            // A cancel or a timeout stops renewing the lease but counts it held until it lapses (the saga waits for the worker's
            // report); anything else may already be granted elsewhere.
            lost.Add(new LostLease { RunId = lease.RunId, LeaseId = lease.LeaseId, Reason = reason, Graceful = stopping });
        }

        await UpsertWorkerAsync(connection, transaction, heartbeat, now, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        _copies.Forget(renewed);
        return new LeaseRenewal(lost, neverDelivered.ConvertAll(d => d.Release));
    }

    /// <summary>Why a hand-over that never reached its worker is handed back (the saga's record of the attempt says it).</summary>
    public const string NeverDeliveredReason =
        "not started: the hand-over was lost with the worker's mailbox (its queue was declared again after a broker restart or a lost connection)";

    /// <summary>
    /// The runs leased to this worker on offers it gave up whose lease is not among those it received: still running under
    /// that lease (or being stopped), or already queued again after that lease lapsed. Runs it lists in its heartbeat are left
    /// alone whatever their lease.
    /// </summary>
    async Task<List<(RunReleased Release, bool Running)>> FindNeverDeliveredAsync(DbConnection connection, DbTransaction transaction,
        WorkerHeartbeat heartbeat, CancellationToken cancellationToken)
    {
        var offers = heartbeat.ForgottenOffers.DistinctBy(o => o.OfferId).ToDictionary(o => o.OfferId, o => o.ReceivedLeases.ToHashSet());
        var held = heartbeat.Leases.Select(l => l.RunId).ToHashSet();
        var found = new List<(RunReleased, bool)>();
        // In chunks: a worker that lost its mailbox twice in a short while lists a few hundred offers at most.
        foreach (var chunk in offers.Keys.Chunk(200))
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = $"""
                SELECT run_id, lease_id, attempt, current_state, error_kind, claim_id FROM runs
                WHERE worker_id = @worker_id AND current_state IN (@running, @cancelling, @timing_out, @queued)
                    AND claim_id IN ({string.Join(", ", chunk.Select((_, i) => "@offer" + i))})
                """;
            command.AddParameter("worker_id", heartbeat.WorkerId);
            command.AddParameter("running", RunStates.Running);
            command.AddParameter("cancelling", RunStates.Cancelling);
            command.AddParameter("timing_out", RunStates.TimingOut);
            command.AddParameter("queued", RunStates.Queued);
            for (var i = 0; i < chunk.Length; i++)
                command.AddParameter("offer" + i, Dialect.ToDb(chunk[i]));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var runId = Dialect.ReadGuid(reader, 0);
                var leaseId = Dialect.ReadGuid(reader, 1);
                var state = reader.GetString(3);
                var lapsed = state == RunStates.Queued;
                if (held.Contains(runId) || offers[Dialect.ReadGuid(reader, 5)].Contains(leaseId)
                    || (lapsed && (reader.IsDBNull(4) || reader.GetString(4) != FailureKinds.LeaseExpired)))
                    continue;
                var attempt = reader.GetInt32(2);
                found.Add((new RunReleased
                {
                    RunId = runId,
                    // A lapse has queued the next attempt already; the hand-back is of the one before.
                    Attempt = lapsed ? attempt - 1 : attempt,
                    LeaseId = leaseId,
                    WorkerId = heartbeat.WorkerId,
                    Reason = NeverDeliveredReason,
                }, state == RunStates.Running));
            }
        }
        return found;
    }

    /// <summary>One statement per lease (SQLite: one writer at a time anyway, and no arrays).</summary>
    async Task<HashSet<Guid>> RenewEachAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<HeldLease> leases, DateTimeOffset now,
        DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        var renewed = new HashSet<Guid>();
        foreach (var lease in leases)
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = RenewLeaseSql;
            command.AddParameter("expires_at", Dialect.ToDb(expiresAt));
            command.AddParameter("now", Dialect.ToDb(now));
            command.AddParameter("steps", lease.Usage.Steps);
            command.AddParameter("tool_calls", lease.Usage.ToolCalls);
            command.AddParameter("input_tokens", lease.Usage.InputTokens);
            command.AddParameter("output_tokens", lease.Usage.OutputTokens);
            command.AddParameter("cost_usd", Dialect.ToDb(lease.Usage.CostUsd));
            command.AddParameter("progress", lease.Progress);
            command.AddParameter("run_id", Dialect.ToDb(lease.RunId));
            command.AddParameter("lease_id", Dialect.ToDb(lease.LeaseId));
            command.AddParameter("running", RunStates.Running);
            if (await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1)
                renewed.Add(lease.RunId);
        }
        return renewed;
    }

    /// <summary>
    /// Every lease of the heartbeat in one statement (PostgreSQL, arrays joined with <c>unnest</c>): a worker with a
    /// thousand runs renews them in one round trip, not a thousand. Rows are taken in run-id order, so two renewals
    /// never wait on each other in opposite orders.
    /// </summary>
    static async Task<HashSet<Guid>> RenewAllAsync(DbConnection connection, DbTransaction transaction, IReadOnlyList<HeldLease> leases, DateTimeOffset now,
        DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        var renewed = new HashSet<Guid>();
        if (leases.Count == 0)
            return renewed;
        var sorted = leases.DistinctBy(l => l.RunId).OrderBy(l => l.RunId).ToList();
        const string stallDeadline = "CASE WHEN v.progress > runs.progress AND runs.stall_timeout_ms IS NOT NULL " +
            "THEN @now + runs.stall_timeout_ms * interval '1 millisecond' ELSE runs.stall_deadline_at END";
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"""
            UPDATE runs SET lease_expires_at = @expires_at, updated_at = @now, version = runs.version + 1,
                steps = GREATEST(runs.steps, v.steps), tool_calls = GREATEST(runs.tool_calls, v.tool_calls),
                input_tokens = GREATEST(runs.input_tokens, v.input_tokens), output_tokens = GREATEST(runs.output_tokens, v.output_tokens),
                cost_usd = GREATEST(runs.cost_usd, v.cost_usd),
                stall_deadline_at = {stallDeadline},
                due_at = LEAST(@expires_at, runs.deadline_at, {stallDeadline}),
                progress = GREATEST(runs.progress, v.progress)
            FROM unnest(@run_ids, @lease_ids, @steps, @tool_calls, @input_tokens, @output_tokens, @cost_usd, @progress)
                AS v(run_id, lease_id, steps, tool_calls, input_tokens, output_tokens, cost_usd, progress)
            WHERE runs.run_id = v.run_id AND runs.lease_id = v.lease_id AND runs.current_state = @running
            RETURNING runs.run_id
            """;
        command.AddParameter("expires_at", expiresAt.ToUniversalTime());
        command.AddParameter("now", now.ToUniversalTime());
        command.AddParameter("run_ids", sorted.Select(l => l.RunId).ToArray());
        command.AddParameter("lease_ids", sorted.Select(l => l.LeaseId).ToArray());
        command.AddParameter("steps", sorted.Select(l => l.Usage.Steps).ToArray());
        command.AddParameter("tool_calls", sorted.Select(l => l.Usage.ToolCalls).ToArray());
        command.AddParameter("input_tokens", sorted.Select(l => l.Usage.InputTokens).ToArray());
        command.AddParameter("output_tokens", sorted.Select(l => l.Usage.OutputTokens).ToArray());
        command.AddParameter("cost_usd", sorted.Select(l => l.Usage.CostUsd).ToArray());
        command.AddParameter("progress", sorted.Select(l => l.Progress).ToArray());
        command.AddParameter("running", RunStates.Running);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            renewed.Add(reader.GetGuid(0));
        return renewed;
    }

    /// <summary>
    /// One lease's renewal. Progress that grew pushes the stall deadline out; due_at stays at the earliest of the new
    /// expiry, the state's timeout (deadline_at, kept by the saga) and the stall deadline.
    /// </summary>
    string RenewLeaseSql => _renewLeaseSql ??= BuildRenewLeaseSql();

    string? _renewLeaseSql;

    string BuildRenewLeaseSql()
    {
        var stallDeadline = $"CASE WHEN @progress > progress AND stall_timeout_ms IS NOT NULL THEN {Dialect.PlusMilliseconds("@now", "stall_timeout_ms")} " +
            "ELSE stall_deadline_at END";
        return $"""
            UPDATE runs SET lease_expires_at = @expires_at, updated_at = @now, version = version + 1,
                steps = {Dialect.Greatest("steps", "@steps")}, tool_calls = {Dialect.Greatest("tool_calls", "@tool_calls")},
                input_tokens = {Dialect.Greatest("input_tokens", "@input_tokens")}, output_tokens = {Dialect.Greatest("output_tokens", "@output_tokens")},
                cost_usd = {(Dialect.Provider == StoreProvider.Postgres ? "GREATEST(cost_usd, @cost_usd)" : "cost_usd")},
                stall_deadline_at = {stallDeadline},
                due_at = {Dialect.Earliest("@expires_at", "deadline_at", stallDeadline)},
                progress = {Dialect.Greatest("progress", "@progress")}
            WHERE run_id = @run_id AND lease_id = @lease_id AND current_state = @running
            """;
    }

    async Task UpsertWorkerAsync(DbConnection connection, DbTransaction transaction, WorkerHeartbeat heartbeat, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT INTO workers (worker_id, host_name, runtimes, unavailable, slots, active_runs, draining, started_at, last_seen_at, mailbox_down_since)
            VALUES (@worker_id, @host_name, @runtimes, @unavailable, @slots, @active_runs, @draining, @started_at, @last_seen_at, @mailbox_down_since)
            ON CONFLICT (worker_id) DO UPDATE SET host_name = excluded.host_name, runtimes = excluded.runtimes,
                unavailable = excluded.unavailable, slots = excluded.slots,
                active_runs = excluded.active_runs, draining = excluded.draining, started_at = excluded.started_at, last_seen_at = excluded.last_seen_at,
                mailbox_down_since = excluded.mailbox_down_since
            """;
        command.AddParameter("worker_id", heartbeat.WorkerId);
        command.AddParameter("host_name", heartbeat.HostName);
        command.AddParameter("runtimes", string.Join(',', heartbeat.Runtimes));
        command.AddParameter("unavailable", heartbeat.Unavailable.Count == 0 ? null
            : System.Text.Json.JsonSerializer.Serialize(heartbeat.Unavailable, System.Text.Json.JsonSerializerOptions.Web));
        command.AddParameter("slots", heartbeat.Slots);
        command.AddParameter("active_runs", heartbeat.Leases.Count);
        command.AddParameter("draining", Dialect.ToDb(heartbeat.Draining));
        command.AddParameter("started_at", Dialect.ToDb(heartbeat.StartedAt));
        command.AddParameter("last_seen_at", Dialect.ToDb(now));
        command.AddParameter("mailbox_down_since", heartbeat.MailboxDownSince is { } down ? Dialect.ToDb(down) : null);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<WorkerRecord>> ListWorkersAsync(CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand(
            "SELECT worker_id, host_name, runtimes, slots, active_runs, draining, started_at, last_seen_at, unavailable, mailbox_down_since FROM workers ORDER BY worker_id");
        var workers = new List<WorkerRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            workers.Add(new WorkerRecord(reader.GetString(0), reader.GetString(1),
                reader.GetString(2).Split(',', StringSplitOptions.RemoveEmptyEntries), reader.GetInt32(3), reader.GetInt32(4),
                Dialect.ReadBool(reader, 5), Dialect.ReadTime(reader, 6), Dialect.ReadTime(reader, 7))
            {
                Unavailable = reader.IsDBNull(8) ? []
                    : System.Text.Json.JsonSerializer.Deserialize<List<UnavailableRuntime>>(reader.GetString(8), System.Text.Json.JsonSerializerOptions.Web) ?? [],
                MailboxDownSince = reader.IsDBNull(9) ? null : Dialect.ReadTime(reader, 9),
            });
        }
        return workers;
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Stale} of the last {Writes} writes from this orchestrator's copies of rows " +
        "found the row changed by another writer (another orchestrator?); rows are read before every write for the next {Seconds} s")]
    static partial void LogCopiesPaused(ILogger logger, int stale, int writes, double seconds);
}

/// <summary>Why a heartbeat did not renew a lease, where the worker needs to tell the cases apart.</summary>
public static class LostLeaseReasons
{
    /// <summary>The run is being cancelled: stop it and report it cancelled.</summary>
    public const string CancelRequested = "cancel requested";
}

/// <summary>Filters for <see cref="RunStore.QueryAsync"/>.</summary>
public sealed record RunQuery(string? State = null, string? Runtime = null, string? Agent = null, string? Tenant = null, int Limit = 50,
    RunCursor? Cursor = null);

/// <summary>Keyset position in the newest-first listing.</summary>
public sealed record RunCursor(DateTimeOffset SubmittedAt, Guid RunId)
{
    public string Encode() =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{SubmittedAt.ToUnixTimeMilliseconds()}:{RunId:N}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static bool TryDecode(string? text, out RunCursor? cursor)
    {
        cursor = null;
        if (string.IsNullOrEmpty(text))
            return false;
        try
        {
            var padded = text.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - (padded.Length % 4)) % 4);
            var parts = Encoding.UTF8.GetString(Convert.FromBase64String(padded)).Split(':');
            if (parts.Length == 2 && long.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) && Guid.TryParse(parts[1], out var id))
            {
                cursor = new RunCursor(DateTimeOffset.FromUnixTimeMilliseconds(ms), id);
                return true;
            }
        }
        catch (FormatException)
        {
        }
        return false;
    }
}

/// <summary>A run whose timer the sweeper took; <paramref name="DeadlinePassed"/> when one of its timeouts is what came due.</summary>
public sealed record DueRun(Guid RunId, string State, int Attempt, Guid? LeaseId, bool DeadlinePassed = false)
{
    public string Runtime { get; init; } = "";
    public int Priority { get; init; }
    public string? ErrorKind { get; init; }
    public DateTimeOffset? QueuedAt { get; init; }
}

/// <summary>Counts per state.</summary>
public sealed record RunCounts(IReadOnlyDictionary<string, long> ByState, DateTimeOffset? OldestQueuedSubmittedAt);

/// <summary>A row of the worker registry.</summary>
public sealed record WorkerRecord(string WorkerId, string HostName, IReadOnlyList<string> Runtimes, int Slots, int ActiveRuns, bool Draining,
    DateTimeOffset StartedAt, DateTimeOffset LastSeenAt)
{
    /// <summary>Runtimes the worker cannot offer, and why.</summary>
    public IReadOnlyList<UnavailableRuntime> Unavailable { get; init; } = [];

    /// <summary>Since when its mailbox has been down, as its last heartbeat said: it takes no work meanwhile.</summary>
    public DateTimeOffset? MailboxDownSince { get; init; }
}
