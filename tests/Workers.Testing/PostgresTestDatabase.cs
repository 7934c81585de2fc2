using Npgsql;

using Xunit;

namespace Workers.Testing;

/// <summary>
/// A PostgreSQL database of its own for a test or test class, on the server named by <see cref="TestEnvironment"/>.
/// Dropped on dispose, even while connections to it are open (<c>DROP DATABASE … WITH (FORCE)</c>).
/// </summary>
/// <example>
/// <code>
/// await using var db = await PostgresTestDatabase.CreateAsync(ct);
/// // point the host under test at db.ConnectionString (e.g. Workers__Store__ConnectionString)
/// </code>
/// Or share one per test class: <c>class MyTests(PostgresTestDatabase db) : IClassFixture&lt;PostgresTestDatabase&gt;</c>.
/// </example>
public sealed class PostgresTestDatabase : IAsyncLifetime
{
    string? serverConnectionString;

    /// <summary>Prepares a database without touching the server; <see cref="InitializeAsync"/> creates it (xUnit fixtures call it).</summary>
    public PostgresTestDatabase()
    {
        Name = "workers_test_" + Guid.NewGuid().ToString("N")[..12];
    }

    /// <summary>The database's name, <c>workers_test_&lt;12 hex digits&gt;</c> (a plain identifier: no quoting needed).</summary>
    public string Name { get; }

    /// <summary><c>POSTGRES_URL</c> with <c>Database</c> set to this database.</summary>
    public string ConnectionString { get; private set; } = "";

    /// <summary>Creates a database on the test server.</summary>
    /// <exception cref="InvalidOperationException">The environment is not set up (see <see cref="TestEnvironment"/>).</exception>
    /// <exception cref="PostgresException">The server refused, e.g. the user lacks CREATEDB.</exception>
    public static async Task<PostgresTestDatabase> CreateAsync(CancellationToken cancellationToken = default)
    {
        var database = new PostgresTestDatabase();
        await database.CreateCoreAsync(cancellationToken);
        return database;
    }

    /// <inheritdoc cref="CreateAsync"/>
    public async ValueTask InitializeAsync() => await CreateCoreAsync(TestContext.Current.CancellationToken);

    /// <summary>Opens a connection to this database; the caller disposes it.</summary>
    public async Task<NpgsqlConnection> OpenConnectionAsync(CancellationToken cancellationToken = default)
    {
        if (serverConnectionString is null)
            throw new InvalidOperationException("The database is not created yet: use PostgresTestDatabase.CreateAsync().");
        var connection = new NpgsqlConnection(ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Drops the database. Failures are ignored: cleanup must not hide the test's own outcome.</summary>
    public async ValueTask DisposeAsync()
    {
        if (serverConnectionString is null)
            return;
        // Pooled connections to a dropped database are dead; drop them from this process's pool first.
        using (var pooled = new NpgsqlConnection(ConnectionString))
            NpgsqlConnection.ClearPool(pooled);
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await ExecuteOnServerAsync(serverConnectionString, $"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", cts.Token);
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException)
        {
            // The server may be gone (a chaos test stopped it); a leftover test database is harmless.
        }
        serverConnectionString = null;
    }

    async Task CreateCoreAsync(CancellationToken cancellationToken)
    {
        if (serverConnectionString is not null)
            return;
        var server = TestEnvironment.PostgresConnectionString;
        // Name is generated from hex digits, so interpolating it into DDL (which takes no parameters) is safe.
        await ExecuteOnServerAsync(server, $"CREATE DATABASE {Name}", cancellationToken);
        serverConnectionString = server;
        ConnectionString = new NpgsqlConnectionStringBuilder(server) { Database = Name }.ConnectionString;
    }

    static async Task ExecuteOnServerAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        // No pooling: these connections are one-offs, and a pooled idle one would keep a server slot for nothing.
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
