using System.Globalization;

namespace Workers.Testing;

/// <summary>
/// Environment variables that point a Workers host started by a test at that test's own vhost and database, for
/// <see cref="ManagedProcessOptions.Environment"/>.
/// </summary>
/// <remarks>
/// A child process inherits the test process's environment, where <c>RABBITMQ_URL</c> and <c>POSTGRES_URL</c> name the
/// shared broker root and server database, and the hosts fall back to those variables. These sets override them, so a
/// host can never wander out of the test's isolation.
/// </remarks>
public static class FleetEnvironment
{
    /// <summary>An orchestrator on RabbitMQ and PostgreSQL, serving HTTP on <c>127.0.0.1:<paramref name="httpPort"/></c>.</summary>
    /// <param name="vhost">The test's broker vhost.</param>
    /// <param name="database">The test's database, where the run tables are created.</param>
    /// <param name="httpPort">E.g. from <see cref="FreePort.Get"/>.</param>
    /// <param name="agentsPath">Agent definitions; default <see cref="RepoPaths.AgentsYaml"/>.</param>
    public static IDictionary<string, string?> Orchestrator(
        RabbitMqTestVhost vhost, PostgresTestDatabase database, int httpPort, string? agentsPath = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        var environment = Common(vhost, agentsPath);
        environment["Workers__Store__Provider"] = "Postgres";
        environment["Workers__Store__ConnectionString"] = database.ConnectionString;
        environment["POSTGRES_URL"] = database.ConnectionString;
        environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{httpPort.ToString(CultureInfo.InvariantCulture)}";
        return environment;
    }

    /// <summary>A worker on RabbitMQ with <paramref name="slots"/> concurrent runs.</summary>
    /// <param name="vhost">The test's broker vhost.</param>
    /// <param name="slots">Runs the worker executes at once.</param>
    /// <param name="agentsPath">Agent definitions; default <see cref="RepoPaths.AgentsYaml"/>.</param>
    public static IDictionary<string, string?> Worker(RabbitMqTestVhost vhost, int slots = 4, string? agentsPath = null)
    {
        var environment = Common(vhost, agentsPath);
        environment["Workers__Worker__Slots"] = slots.ToString(CultureInfo.InvariantCulture);
        // Workers do not use the database; without the shared server's address, an accidental use fails loudly.
        environment["POSTGRES_URL"] = null;
        return environment;
    }

    static Dictionary<string, string?> Common(RabbitMqTestVhost vhost, string? agentsPath)
    {
        ArgumentNullException.ThrowIfNull(vhost);
        var amqp = vhost.AmqpUrl.AbsoluteUri;
        return new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["Workers__Bus__Transport"] = "RabbitMq",
            ["Workers__Bus__RabbitMqUrl"] = amqp,
            ["RABBITMQ_URL"] = amqp,
            ["Workers__Agents__Path"] = agentsPath ?? RepoPaths.AgentsYaml,
        };
    }
}
