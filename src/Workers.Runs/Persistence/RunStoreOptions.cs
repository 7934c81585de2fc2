namespace Workers.Runs.Persistence;

/// <summary>Where the saga-state table lives. Section <c>Workers:Store</c>.</summary>
public sealed class RunStoreOptions
{
    public const string SectionName = "Workers:Store";

    /// <summary><c>Sqlite</c> (embedded mode) or <c>Postgres</c> (distributed mode).</summary>
    public StoreProvider Provider { get; set; } = StoreProvider.Sqlite;

    /// <summary>
    /// ADO.NET connection string: <c>Data Source=.workers/workers.db</c> for SQLite;
    /// <c>Host=…;Username=…;Password=…;Database=…</c> for PostgreSQL (the <c>POSTGRES_URL</c> environment variable is used when unset).
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>Apply schema migrations at start-up (default). Turn off when a DBA applies them.</summary>
    public bool MigrateOnStart { get; set; } = true;
}

/// <summary>Databases the saga-state table can live in.</summary>
public enum StoreProvider
{
    Sqlite,
    Postgres,
}
