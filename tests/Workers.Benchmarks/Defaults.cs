using Workers.Testing;

namespace Workers.Benchmarks;

/// <summary>Where the services are when the environment does not say: the local ones <c>scripts/test.sh</c> sets up.</summary>
public static class Defaults
{
    /// <summary>Sets <c>RABBITMQ_URL</c>, <c>RABBITMQ_MANAGEMENT_URL</c> and <c>POSTGRES_URL</c> where they are unset.</summary>
    public static void ApplyServiceEnvironment()
    {
        Default(TestEnvironment.RabbitMqUrlVariable, "amqp://guest:guest@127.0.0.1:5672/");
        Default(TestEnvironment.RabbitMqManagementUrlVariable, "http://guest:guest@127.0.0.1:15672/");
        Default(TestEnvironment.PostgresUrlVariable, "Host=127.0.0.1;Port=5432;Username=workers;Password=workers;Database=postgres");
    }

    static void Default(string variable, string value)
    {
        if (string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(variable)))
            Environment.SetEnvironmentVariable(variable, value);
    }
}
