using Workers.Runs.Persistence;
using Workers.Runs.StateMachine;
using Workers.Testing;

namespace Workers.Runs.Tests.Persistence;

/// <summary>A migrated run store on a fresh database: a private PostgreSQL database, or a temporary SQLite file.</summary>
public sealed class StoreFixture : IAsyncDisposable
{
    readonly PostgresTestDatabase? _postgres;
    readonly string? _sqliteDirectory;

    readonly string _connectionString;

    StoreFixture(RunStore store, string connectionString, PostgresTestDatabase? postgres, string? sqliteDirectory)
    {
        Store = store;
        _connectionString = connectionString;
        _postgres = postgres;
        _sqliteDirectory = sqliteDirectory;
    }

    public RunStore Store { get; }

    /// <summary>A second store on the same database: what another orchestrator sees and writes. The caller disposes it.</summary>
    public RunStore OpenAnother() => new(Store.Dialect, _connectionString);

    /// <summary>Changes a run's row through another store, as another orchestrator would; returns the row as written.</summary>
    public async Task<RunState> WriteElsewhereAsync(Guid runId, Action<RunState> change)
    {
        await using var other = OpenAnother();
        var row = (await other.LoadAsync(runId, TestContext.Current.CancellationToken))!;
        change(row);
        await other.UpdateAsync(row, TestContext.Current.CancellationToken);
        return row;
    }

    public static async Task<StoreFixture> CreateAsync(string provider)
    {
        StoreFixture fixture;
        if (provider == nameof(StoreProvider.Postgres))
        {
            var database = await PostgresTestDatabase.CreateAsync(TestContext.Current.CancellationToken);
            fixture = new StoreFixture(new RunStore(SqlDialect.For(StoreProvider.Postgres), database.ConnectionString), database.ConnectionString, database, null);
        }
        else
        {
            var directory = Directory.CreateTempSubdirectory("workers-store-").FullName;
            var connectionString = $"Data Source={Path.Combine(directory, "runs.db")}";
            fixture = new StoreFixture(new RunStore(SqlDialect.For(StoreProvider.Sqlite), connectionString), connectionString, null, directory);
        }
        await new SchemaMigrator(fixture.Store).MigrateAsync(TestContext.Current.CancellationToken);
        return fixture;
    }

    public static RunState NewRun(DateTimeOffset now, string state = RunStates.Queued) => new()
    {
        CorrelationId = Guid.NewGuid(),
        CurrentState = state,
        Agent = "echo",
        Runtime = "process",
        Priority = 5,
        Input = "hello",
        Attempt = 1,
        MaxAttempts = 3,
        SubmittedAt = now,
        UpdatedAt = now,
    };

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        if (_postgres is not null)
            await _postgres.DisposeAsync();
        if (_sqliteDirectory is not null)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(_sqliteDirectory, recursive: true);
        }
    }
}
