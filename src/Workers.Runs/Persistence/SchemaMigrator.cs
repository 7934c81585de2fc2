using System.Data.Common;
using System.Globalization;
using System.Reflection;

namespace Workers.Runs.Persistence;

/// <summary>
/// Applies the numbered SQL scripts under <c>Persistence/Migrations/&lt;provider&gt;/</c> that the database has not
/// seen, in order, each in its own transaction, recording them in <c>schema_migrations</c>. Safe with several
/// orchestrators starting at once (PostgreSQL: an advisory lock; SQLite: one writer at a time).
/// </summary>
public sealed class SchemaMigrator(RunStore store)
{
    // Any fixed number; it names this schema's migration lock among other advisory locks in the database.
    const long AdvisoryLockKey = 0x576F726B657273; // "Workers"

    public async Task<IReadOnlyList<string>> MigrateAsync(CancellationToken cancellationToken = default)
    {
        var dialect = store.Dialect;
        var scripts = LoadScripts(dialect.Provider);
        await using var connection = await store.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

        if (dialect.Provider == StoreProvider.Sqlite)
            await ExecuteAsync(connection, null, "PRAGMA journal_mode = WAL;", cancellationToken).ConfigureAwait(false);

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        if (dialect.Provider == StoreProvider.Postgres)
            await ExecuteAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({AdvisoryLockKey})", cancellationToken).ConfigureAwait(false);

        await ExecuteAsync(connection, transaction,
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
            cancellationToken).ConfigureAwait(false);

        var applied = new HashSet<int>();
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = "SELECT version FROM schema_migrations";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                applied.Add(reader.GetInt32(0));
        }

        var done = new List<string>();
        foreach (var (version, name, sql) in scripts.Where(s => !applied.Contains(s.Version)))
        {
            await ExecuteAsync(connection, transaction, sql, cancellationToken).ConfigureAwait(false);
            await using var record = connection.CreateCommand();
            record.Transaction = transaction;
            record.CommandText = "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@version, @name, @applied_at)";
            record.AddParameter("version", version);
            record.AddParameter("name", name);
            record.AddParameter("applied_at", DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture));
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            done.Add(name);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return done;
    }

    static async Task ExecuteAsync(DbConnection connection, DbTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    static List<(int Version, string Name, string Sql)> LoadScripts(StoreProvider provider)
    {
        var assembly = typeof(SchemaMigrator).Assembly;
        var prefix = $"{assembly.GetName().Name}.Persistence.Migrations.{provider.ToString().ToLowerInvariant()}.";
        var scripts = new List<(int, string, string)>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            var name = resource[prefix.Length..];
            var version = int.Parse(name.AsSpan(0, name.IndexOf('_', StringComparison.Ordinal)), CultureInfo.InvariantCulture);
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            scripts.Add((version, name, reader.ReadToEnd()));
        }
        return scripts.OrderBy(s => s.Item1).ToList();
    }
}
