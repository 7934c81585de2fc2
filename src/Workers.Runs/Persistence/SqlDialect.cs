using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Workers.Runs.Persistence;

/// <summary>
/// The differences between PostgreSQL and SQLite that the store cares about: value encodings and the few
/// statements that cannot be written the same way in both.
/// </summary>
public abstract class SqlDialect
{
    public abstract StoreProvider Provider { get; }

    public abstract DbDataSource CreateDataSource(string connectionString);

    public abstract object ToDb(Guid value);
    public abstract object ToDb(DateTimeOffset value);
    public abstract object ToDb(decimal value);
    public abstract object ToDb(bool value);

    public object ToDb(Guid? value) => value is { } v ? ToDb(v) : DBNull.Value;
    public object ToDb(DateTimeOffset? value) => value is { } v ? ToDb(v) : DBNull.Value;

    public abstract Guid ReadGuid(DbDataReader reader, int ordinal);
    public abstract DateTimeOffset ReadTime(DbDataReader reader, int ordinal);
    public abstract decimal ReadDecimal(DbDataReader reader, int ordinal);
    public abstract bool ReadBool(DbDataReader reader, int ordinal);

    /// <summary>The placeholder of a statement's parameter: by position (1-based) or by name, as the provider reads them best.</summary>
    public abstract string Placeholder(int position, string name);

    /// <summary>The name to give the parameter behind <see cref="Placeholder"/> (empty for a positional one).</summary>
    public abstract string ParameterName(string name);

    /// <summary>Row locking for the sweeper: several orchestrators must not fire the same timer at once.</summary>
    public abstract string SkipLocked { get; }

    /// <summary>SQL for the larger of two values.</summary>
    public abstract string Greatest(string left, string right);

    /// <summary>SQL for the earliest of a time that is never null and others that may be (nulls are ignored).</summary>
    public abstract string Earliest(string notNull, params string[] nullable);

    /// <summary>SQL for a time plus a number of milliseconds held in an integer column.</summary>
    public abstract string PlusMilliseconds(string time, string milliseconds);

    public static SqlDialect For(StoreProvider provider) => provider switch
    {
        StoreProvider.Postgres => new PostgresDialect(),
        StoreProvider.Sqlite => new SqliteDialect(),
        _ => throw new ArgumentOutOfRangeException(nameof(provider), provider, "unknown store provider"),
    };
}

sealed class PostgresDialect : SqlDialect
{
    public override StoreProvider Provider => StoreProvider.Postgres;

    /// <summary>
    /// The store keeps no session state (no SET, no temporary tables, only transaction-scoped locks), so a pooled
    /// connection needs no DISCARD ALL when it is reused, and its hot statements stay prepared. Both are defaults the
    /// connection string can override ("No Reset On Close", "Max Auto Prepare").
    /// </summary>
    public override DbDataSource CreateDataSource(string connectionString)
    {
        var given = new DbConnectionStringBuilder { ConnectionString = connectionString };
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!given.ContainsKey("No Reset On Close") && !given.ContainsKey("NoResetOnClose"))
            builder.NoResetOnClose = true;
        if (!given.ContainsKey("Max Auto Prepare") && !given.ContainsKey("MaxAutoPrepare"))
            builder.MaxAutoPrepare = 64;
        return NpgsqlDataSource.Create(builder);
    }

    public override object ToDb(Guid value) => value;
    public override object ToDb(DateTimeOffset value) => value.ToUniversalTime();
    public override object ToDb(decimal value) => value;
    public override object ToDb(bool value) => value;

    // Positional: with only unnamed parameters Npgsql sends the statement as written, without scanning it for names.
    public override string Placeholder(int position, string name) => "$" + position.ToString(CultureInfo.InvariantCulture);
    public override string ParameterName(string name) => "";

    public override Guid ReadGuid(DbDataReader reader, int ordinal) => reader.GetGuid(ordinal);
    public override DateTimeOffset ReadTime(DbDataReader reader, int ordinal) => reader.GetFieldValue<DateTimeOffset>(ordinal);
    public override decimal ReadDecimal(DbDataReader reader, int ordinal) => reader.GetDecimal(ordinal);
    public override bool ReadBool(DbDataReader reader, int ordinal) => reader.GetBoolean(ordinal);

    public override string SkipLocked => "FOR UPDATE SKIP LOCKED";
    public override string Greatest(string left, string right) => $"GREATEST({left}, {right})";

    // LEAST ignores nulls in PostgreSQL.
    public override string Earliest(string notNull, params string[] nullable) => $"LEAST({notNull}, {string.Join(", ", nullable)})";

    public override string PlusMilliseconds(string time, string milliseconds) => $"({time} + {milliseconds} * interval '1 millisecond')";
}

sealed class SqliteDialect : SqlDialect
{
    public override StoreProvider Provider => StoreProvider.Sqlite;

    public override DbDataSource CreateDataSource(string connectionString)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString);
        if (builder.DataSource is { Length: > 0 } file && file != ":memory:")
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        return SqliteFactory.Instance.CreateDataSource(builder.ToString());
    }

    // SQLite has no uuid or timestamp type: text ids, Unix-millisecond times (sortable, comparable).
    public override object ToDb(Guid value) => value.ToString("D");
    public override object ToDb(DateTimeOffset value) => value.ToUnixTimeMilliseconds();
    public override object ToDb(decimal value) => value.ToString(CultureInfo.InvariantCulture);
    public override object ToDb(bool value) => value ? 1 : 0;

    public override string Placeholder(int position, string name) => "@" + name;
    public override string ParameterName(string name) => name;

    public override Guid ReadGuid(DbDataReader reader, int ordinal) => Guid.Parse(reader.GetString(ordinal));
    public override DateTimeOffset ReadTime(DbDataReader reader, int ordinal) => DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(ordinal));
    public override decimal ReadDecimal(DbDataReader reader, int ordinal) => decimal.Parse(reader.GetString(ordinal), CultureInfo.InvariantCulture);
    public override bool ReadBool(DbDataReader reader, int ordinal) => reader.GetInt64(ordinal) != 0;

    public override string SkipLocked => "";
    public override string Greatest(string left, string right) => $"MAX({left}, {right})";

    // SQLite's multi-argument MIN is null if any argument is.
    public override string Earliest(string notNull, params string[] nullable) =>
        $"MIN({notNull}, {string.Join(", ", nullable.Select(n => $"COALESCE({n}, {notNull})"))})";

    public override string PlusMilliseconds(string time, string milliseconds) => $"({time} + {milliseconds})";
}
