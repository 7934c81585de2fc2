using Npgsql;

namespace Workers.Testing;

/// <summary>
/// Where the tests' RabbitMQ and PostgreSQL are, read from environment variables that <c>scripts/test.sh</c> sets.
/// </summary>
/// <remarks>
/// A missing variable throws rather than skipping the test: a suite that silently skips its integration tests
/// looks green while testing nothing.
/// </remarks>
public static class TestEnvironment
{
    /// <summary>AMQP URL of the broker, e.g. <c>amqp://guest:guest@127.0.0.1:5672/</c>.</summary>
    public const string RabbitMqUrlVariable = "RABBITMQ_URL";

    /// <summary>Management API of the same broker, with credentials, e.g. <c>http://guest:guest@127.0.0.1:15672/</c>.</summary>
    public const string RabbitMqManagementUrlVariable = "RABBITMQ_MANAGEMENT_URL";

    /// <summary>Npgsql connection string of a server where the user may <c>CREATE DATABASE</c>.</summary>
    public const string PostgresUrlVariable = "POSTGRES_URL";

    /// <summary>The broker's AMQP URL (<see cref="RabbitMqUrlVariable"/>).</summary>
    /// <exception cref="InvalidOperationException">The variable is unset or not an amqp:// or amqps:// URL.</exception>
    public static Uri RabbitMqUrl => ReadUri(RabbitMqUrlVariable, "amqp", "amqps");

    /// <summary>The broker's management API URL (<see cref="RabbitMqManagementUrlVariable"/>).</summary>
    /// <exception cref="InvalidOperationException">The variable is unset or not an http:// or https:// URL.</exception>
    public static Uri RabbitMqManagementUrl => ReadUri(RabbitMqManagementUrlVariable, "http", "https");

    /// <summary>The PostgreSQL connection string (<see cref="PostgresUrlVariable"/>), in Npgsql's key=value form.</summary>
    /// <exception cref="InvalidOperationException">The variable is unset or not a valid Npgsql connection string.</exception>
    public static string PostgresConnectionString => ReadConnectionString(PostgresUrlVariable);

    static string Read(string variable)
    {
        var value = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(value))
            throw new InvalidOperationException(
                $"{variable} is not set. Run the tests with 'bash scripts/test.sh' (it installs and starts RabbitMQ and " +
                $"PostgreSQL and sets the variables), or set {variable} yourself; see scripts/test.sh for the expected form.");
        return value;
    }

    static Uri ReadUri(string variable, params string[] schemes)
    {
        var value = Read(variable);
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || !schemes.Contains(uri.Scheme))
            throw new InvalidOperationException($"{variable} '{value}' is not a {string.Join(" or ", schemes.Select(s => s + "://"))} URL.");
        return uri;
    }

    static string ReadConnectionString(string variable)
    {
        var value = Read(variable);
        try
        {
            _ = new NpgsqlConnectionStringBuilder(value);
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException(
                $"{variable} is not an Npgsql connection string (Host=...;Username=...;Password=...): {e.Message}", e);
        }
        return value;
    }
}
