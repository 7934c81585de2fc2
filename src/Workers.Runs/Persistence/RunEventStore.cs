using System.Globalization;
using System.Text;
using Workers.Contracts;
using Workers.Runs.StateMachine;

namespace Workers.Runs.Persistence;

/// <summary>
/// The event log of each attempt and the newest checkpoint of each run, beside the saga-state table (same database).
/// Written outside the saga: events are observations, appended idempotently by (run, attempt, sequence).
/// </summary>
public sealed class RunEventStore(RunStore runs)
{
    /// <summary>Longest text kept per event; longer text keeps its head and says so.</summary>
    public const int MaxEventText = 8 * 1024;

    /// <summary>Largest checkpoint kept, in characters.</summary>
    public const int MaxCheckpointState = 4 * 1024 * 1024;

    SqlDialect Dialect => runs.Dialect;

    /// <summary>Appends an attempt's events (a redelivered batch changes nothing) and keeps its checkpoint if its lease is still the run's.</summary>
    public async Task RecordAsync(AttemptActivity activity, DateTimeOffset now, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(activity);
        await using var connection = await runs.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        const int rowsPerStatement = 200;
        foreach (var chunk in activity.Events.Chunk(rowsPerStatement))
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            var sql = new StringBuilder("INSERT INTO run_events (run_id, attempt, sequence, at, type, text, tool, call_id, is_error) VALUES ");
            command.AddParameter("run_id", Dialect.ToDb(activity.RunId));
            command.AddParameter("attempt", activity.Attempt);
            for (var i = 0; i < chunk.Length; i++)
            {
                var e = chunk[i];
                sql.Append(i == 0 ? "" : ", ").Append(CultureInfo.InvariantCulture,
                    $"(@run_id, @attempt, @s{i}, @at{i}, @type{i}, @text{i}, @tool{i}, @call{i}, @error{i})");
                command.AddParameter($"s{i}", e.Sequence);
                command.AddParameter($"at{i}", Dialect.ToDb(e.At == default ? now : e.At));
                command.AddParameter($"type{i}", Cap(e.Type, 40));
                command.AddParameter($"text{i}", e.Text is null ? null : Cap(e.Text, MaxEventText));
                command.AddParameter($"tool{i}", e.Tool is null ? null : Cap(e.Tool, 200));
                command.AddParameter($"call{i}", e.CallId is null ? null : Cap(e.CallId, 200));
                command.AddParameter($"error{i}", Dialect.ToDb(e.IsError));
            }
            sql.Append(" ON CONFLICT (run_id, attempt, sequence) DO NOTHING");
            command.CommandText = sql.ToString();
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        if (activity.Checkpoint is { } checkpoint && checkpoint.State.Length <= MaxCheckpointState)
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            // Fenced: only the attempt that holds the run's lease writes, and never over a newer checkpoint.
            command.CommandText = $"""
                INSERT INTO run_checkpoints (run_id, attempt, step, state, saved_at)
                SELECT @run_id, @attempt, @step, @state, @now WHERE EXISTS
                    (SELECT 1 FROM runs WHERE run_id = @run_id AND lease_id = @lease_id AND current_state IN (@running, @cancelling, @timing_out))
                ON CONFLICT (run_id) DO UPDATE SET attempt = excluded.attempt, step = excluded.step, state = excluded.state, saved_at = excluded.saved_at
                WHERE run_checkpoints.attempt < excluded.attempt OR (run_checkpoints.attempt = excluded.attempt AND run_checkpoints.step <= excluded.step)
                """;
            command.AddParameter("run_id", Dialect.ToDb(activity.RunId));
            command.AddParameter("attempt", activity.Attempt);
            command.AddParameter("step", checkpoint.Step);
            command.AddParameter("state", checkpoint.State);
            command.AddParameter("now", Dialect.ToDb(now));
            command.AddParameter("lease_id", Dialect.ToDb(activity.LeaseId));
            command.AddParameter("running", RunStates.Running);
            command.AddParameter("cancelling", RunStates.Cancelling);
            command.AddParameter("timing_out", RunStates.TimingOut);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The run's newest checkpoint, for the worker holding <paramref name="leaseId"/> (anyone else gets none).</summary>
    public async Task<RunCheckpoint?> LoadCheckpointAsync(Guid runId, Guid leaseId, CancellationToken cancellationToken = default)
    {
        await using var command = runs.DataSource.CreateCommand("""
            SELECT c.attempt, c.step, c.state FROM run_checkpoints c JOIN runs r ON r.run_id = c.run_id
            WHERE c.run_id = @run_id AND r.lease_id = @lease_id
            """);
        command.AddParameter("run_id", Dialect.ToDb(runId));
        command.AddParameter("lease_id", Dialect.ToDb(leaseId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ? new RunCheckpoint { Attempt = reader.GetInt32(0), Step = reader.GetInt32(1), State = reader.GetString(2) }
            : null;
    }

    /// <summary>The run's events in order, after a position (attempt, sequence), at most <paramref name="limit"/>.</summary>
    public async Task<IReadOnlyList<StoredRunEvent>> ListAsync(Guid runId, int afterAttempt, long afterSequence, int limit,
        CancellationToken cancellationToken = default)
    {
        await using var command = runs.DataSource.CreateCommand("""
            SELECT attempt, sequence, at, type, text, tool, call_id, is_error FROM run_events
            WHERE run_id = @run_id AND (attempt > @attempt OR (attempt = @attempt AND sequence > @sequence))
            ORDER BY attempt, sequence LIMIT @limit
            """);
        command.AddParameter("run_id", Dialect.ToDb(runId));
        command.AddParameter("attempt", afterAttempt);
        command.AddParameter("sequence", afterSequence);
        command.AddParameter("limit", limit);
        var events = new List<StoredRunEvent>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            events.Add(new StoredRunEvent(reader.GetInt32(0), reader.GetInt64(1), Dialect.ReadTime(reader, 2), reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.IsDBNull(6) ? null : reader.GetString(6), Dialect.ReadBool(reader, 7)));
        }
        return events;
    }

    static string Cap(string value, int max) => value.Length <= max ? value : string.Concat(value.AsSpan(0, max), "… [truncated]");
}

/// <summary>One event of a run's log, with its attempt.</summary>
public sealed record StoredRunEvent(int Attempt, long Sequence, DateTimeOffset At, string Type, string? Text, string? Tool, string? CallId, bool IsError);
