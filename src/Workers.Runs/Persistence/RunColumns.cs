using System.Data.Common;
using Workers.Runs.StateMachine;

namespace Workers.Runs.Persistence;

/// <summary>The mapping between <see cref="RunState"/> and the <c>runs</c> table, in one place.</summary>
static class RunColumns
{
    sealed record Column(string Name, Func<RunState, SqlDialect, object> Write, Action<RunState, DbDataReader, int, SqlDialect> Read);

    static object Text(string? value) => value is null ? DBNull.Value : value;

    static readonly Column[] Columns =
    [
        new("run_id", (r, d) => d.ToDb(r.CorrelationId), (r, x, i, d) => r.CorrelationId = d.ReadGuid(x, i)),
        new("current_state", (r, _) => r.CurrentState, (r, x, i, _) => r.CurrentState = x.GetString(i)),
        new("version", (r, _) => r.Version, (r, x, i, _) => r.Version = x.GetInt32(i)),
        new("agent", (r, _) => r.Agent, (r, x, i, _) => r.Agent = x.GetString(i)),
        new("runtime", (r, _) => r.Runtime, (r, x, i, _) => r.Runtime = x.GetString(i)),
        new("priority", (r, _) => r.Priority, (r, x, i, _) => r.Priority = x.GetInt32(i)),
        new("input", (r, _) => r.Input, (r, x, i, _) => r.Input = x.GetString(i)),
        new("tenant", (r, _) => Text(r.Tenant), (r, x, i, _) => r.Tenant = x.IsDBNull(i) ? null : x.GetString(i)),
        new("labels", (r, _) => Text(r.LabelsJson), (r, x, i, _) => r.LabelsJson = x.IsDBNull(i) ? null : x.GetString(i)),
        new("agent_spec", (r, _) => Text(r.AgentSpecJson), (r, x, i, _) => r.AgentSpecJson = x.IsDBNull(i) ? null : x.GetString(i)),
        new("attempt", (r, _) => r.Attempt, (r, x, i, _) => r.Attempt = x.GetInt32(i)),
        new("max_attempts", (r, _) => r.MaxAttempts, (r, x, i, _) => r.MaxAttempts = x.GetInt32(i)),
        new("released_attempts", (r, _) => r.ReleasedAttempts, (r, x, i, _) => r.ReleasedAttempts = x.GetInt32(i)),
        new("dispatch_count", (r, _) => r.DispatchCount, (r, x, i, _) => r.DispatchCount = x.GetInt32(i)),
        new("redispatch_at", (r, d) => d.ToDb(r.RedispatchAt), (r, x, i, d) => r.RedispatchAt = Time(x, i, d)),
        new("worker_id", (r, _) => Text(r.WorkerId), (r, x, i, _) => r.WorkerId = x.IsDBNull(i) ? null : x.GetString(i)),
        new("worker_address", (r, _) => Text(r.WorkerAddress), (r, x, i, _) => r.WorkerAddress = x.IsDBNull(i) ? null : x.GetString(i)),
        new("lease_id", (r, d) => d.ToDb(r.LeaseId), (r, x, i, d) => r.LeaseId = x.IsDBNull(i) ? null : d.ReadGuid(x, i)),
        new("lease_expires_at", (r, d) => d.ToDb(r.LeaseExpiresAt), (r, x, i, d) => r.LeaseExpiresAt = Time(x, i, d)),
        new("claim_id", (r, d) => d.ToDb(r.ClaimId), (r, x, i, d) => r.ClaimId = x.IsDBNull(i) ? null : d.ReadGuid(x, i)),
        new("submitted_at", (r, d) => d.ToDb(r.SubmittedAt), (r, x, i, d) => r.SubmittedAt = d.ReadTime(x, i)),
        new("started_at", (r, d) => d.ToDb(r.StartedAt), (r, x, i, d) => r.StartedAt = Time(x, i, d)),
        new("finished_at", (r, d) => d.ToDb(r.FinishedAt), (r, x, i, d) => r.FinishedAt = Time(x, i, d)),
        new("next_attempt_at", (r, d) => d.ToDb(r.NextAttemptAt), (r, x, i, d) => r.NextAttemptAt = Time(x, i, d)),
        new("cancel_requested_at", (r, d) => d.ToDb(r.CancelRequestedAt), (r, x, i, d) => r.CancelRequestedAt = Time(x, i, d)),
        new("updated_at", (r, d) => d.ToDb(r.UpdatedAt), (r, x, i, d) => r.UpdatedAt = d.ReadTime(x, i)),
        // Derived from the state; written so the sweeper can find due runs by index. Never read back.
        new("due_at", (r, d) => d.ToDb(r.DueAt), (_, _, _, _) => { }),
        new("output", (r, _) => Text(r.Output), (r, x, i, _) => r.Output = x.IsDBNull(i) ? null : x.GetString(i)),
        new("last_error", (r, _) => Text(r.LastError), (r, x, i, _) => r.LastError = x.IsDBNull(i) ? null : x.GetString(i)),
        new("error_kind", (r, _) => Text(r.ErrorKind), (r, x, i, _) => r.ErrorKind = x.IsDBNull(i) ? null : x.GetString(i)),
        new("steps", (r, _) => r.Steps, (r, x, i, _) => r.Steps = x.GetInt32(i)),
        new("tool_calls", (r, _) => r.ToolCalls, (r, x, i, _) => r.ToolCalls = x.GetInt32(i)),
        new("input_tokens", (r, _) => r.InputTokens, (r, x, i, _) => r.InputTokens = x.GetInt64(i)),
        new("output_tokens", (r, _) => r.OutputTokens, (r, x, i, _) => r.OutputTokens = x.GetInt64(i)),
        new("cost_usd", (r, d) => d.ToDb(r.CostUsd), (r, x, i, d) => r.CostUsd = d.ReadDecimal(x, i)),
        new("retry_initial_delay_ms", (r, _) => Millis(r.RetryInitialDelay), (r, x, i, _) => r.RetryInitialDelay = Duration(x, i)),
        new("retry_max_delay_ms", (r, _) => Millis(r.RetryMaxDelay), (r, x, i, _) => r.RetryMaxDelay = Duration(x, i)),
        new("non_retryable_errors", (r, _) => Text(r.NonRetryableErrors), (r, x, i, _) => r.NonRetryableErrors = x.IsDBNull(i) ? null : x.GetString(i)),
        new("schedule_to_start_ms", (r, _) => Millis(r.ScheduleToStartTimeout), (r, x, i, _) => r.ScheduleToStartTimeout = Duration(x, i)),
        new("start_to_close_ms", (r, _) => Millis(r.StartToCloseTimeout), (r, x, i, _) => r.StartToCloseTimeout = Duration(x, i)),
        new("schedule_to_close_ms", (r, _) => Millis(r.ScheduleToCloseTimeout), (r, x, i, _) => r.ScheduleToCloseTimeout = Duration(x, i)),
        new("stall_timeout_ms", (r, _) => Millis(r.StallTimeout), (r, x, i, _) => r.StallTimeout = Duration(x, i)),
        new("retry_on_stall", (r, d) => d.ToDb(r.RetryOnStall), (r, x, i, d) => r.RetryOnStall = d.ReadBool(x, i)),
        new("queued_at", (r, d) => d.ToDb(r.QueuedAt), (r, x, i, d) => r.QueuedAt = Time(x, i, d)),
        new("attempt_started_at", (r, d) => d.ToDb(r.AttemptStartedAt), (r, x, i, d) => r.AttemptStartedAt = Time(x, i, d)),
        new("progress", (r, _) => r.Progress, (r, x, i, _) => r.Progress = x.GetInt64(i)),
        new("stall_deadline_at", (r, d) => d.ToDb(r.StallDeadlineAt), (r, x, i, d) => r.StallDeadlineAt = Time(x, i, d)),
        // Derived, like due_at: lease renewal reads it to keep due_at at the earliest timer.
        new("deadline_at", (r, d) => d.ToDb(r.DeadlineAt), (_, _, _, _) => { }),
        new("artifacts", (r, _) => Text(r.ArtifactsJson), (r, x, i, _) => r.ArtifactsJson = x.IsDBNull(i) ? null : x.GetString(i)),
    ];

    static object Millis(TimeSpan? value) => value is { } v ? (long)v.TotalMilliseconds : DBNull.Value;

    static TimeSpan? Duration(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : TimeSpan.FromMilliseconds(reader.GetInt64(ordinal));

    static DateTimeOffset? Time(DbDataReader reader, int ordinal, SqlDialect dialect) =>
        reader.IsDBNull(ordinal) ? null : dialect.ReadTime(reader, ordinal);

    public static string SelectList { get; } = string.Join(", ", Columns.Select(c => c.Name));

    /// <summary>
    /// The insert of a whole row, with a parameter per column in column order (<c>AddParameters</c>). Placeholders are
    /// the dialect's: positional in PostgreSQL, where Npgsql then sends the text as it is instead of parsing it for names. A run
    /// already there is left as it is and counts no row, which the caller reports as a conflict.
    /// </summary>
    public static string InsertSql(SqlDialect dialect) =>
        $"INSERT INTO runs ({SelectList}) VALUES ({string.Join(", ", Columns.Select((c, i) => dialect.Placeholder(i + 1, c.Name)))}) ON CONFLICT (run_id) DO NOTHING";

    /// <summary>
    /// Optimistic concurrency: the write only lands on the version it read. Parameters in column order (<c>AddParameters</c>),
    /// then the version read.
    /// </summary>
    public static string UpdateSql(SqlDialect dialect) =>
        $"UPDATE runs SET {string.Join(", ", Columns.Select((c, i) => (c.Name, Position: i + 1)).Where(c => c.Name != "run_id").Select(c => $"{c.Name} = {dialect.Placeholder(c.Position, c.Name)}"))} " +
        $"WHERE run_id = {dialect.Placeholder(1, "run_id")} AND version = {dialect.Placeholder(Columns.Length + 1, "expected_version")}";

    /// <summary>Every column's value, in column order (run_id first), given to <paramref name="add"/> as (name, value).</summary>
    public static void AddParameters(Action<string, object?> add, RunState run, SqlDialect dialect)
    {
        ArgumentNullException.ThrowIfNull(add);
        foreach (var column in Columns)
            add(dialect.ParameterName(column.Name), column.Write(run, dialect));
    }

    /// <summary>Reads a row selected with <see cref="SelectList"/>.</summary>
    public static RunState Read(DbDataReader reader, SqlDialect dialect)
    {
        var run = new RunState();
        for (var i = 0; i < Columns.Length; i++)
            Columns[i].Read(run, reader, i, dialect);
        return run;
    }
}

static class DbCommandExtensions
{
    public static DbCommand AddParameter(this DbCommand command, string name, object? value)
    {
        command.Parameters.Add(Parameter(command.CreateParameter(), name, value));
        return command;
    }

    public static DbBatchCommand AddParameter(this DbBatchCommand command, string name, object? value)
    {
        command.Parameters.Add(Parameter(command.CreateParameter(), name, value));
        return command;
    }

    static DbParameter Parameter(DbParameter parameter, string name, object? value)
    {
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        return parameter;
    }
}
