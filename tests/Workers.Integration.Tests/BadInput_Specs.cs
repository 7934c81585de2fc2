using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using RabbitMQ.Client;
using Workers.Integration.Tests.Fleet;
using Workers.Testing;

namespace Workers.Integration.Tests;

/// <summary>Bad input gets a clear error and loses nothing; bad settings stop a host with a message naming them.</summary>
public sealed class BadInput_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Invalid_submissions_get_a_400_saying_what_to_fix_and_valid_runs_still_complete()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct);
        await fleet.AddWorkerAsync(slots: 2, Ct);

        async Task<string> Rejected(string body)
        {
            using var response = await fleet.Api.PostAsync("api/runs", new StringContent(body, Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            return JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("detail").GetString()!;
        }

        Assert.Contains("not valid JSON", await Rejected("{\"agent\": \"count\", "), StringComparison.Ordinal);
        Assert.Contains("unknown agent 'ghost'; known agents: chatty, count, edit, hang, reviewer", await Rejected("""{"agent":"ghost","input":"x"}"""), StringComparison.Ordinal);
        Assert.Contains("priority 12 is out of range; use 0 (lowest) to 9 (highest)", await Rejected("""{"agent":"count","input":"x","priority":12}"""), StringComparison.Ordinal);
        Assert.Contains("input is empty", await Rejected("""{"agent":"count","input":""}"""), StringComparison.Ordinal);
        Assert.Contains("the limit is 1048576", await Rejected(JsonSerializer.Serialize(new { agent = "count", input = new string('x', 1_100_000) })), StringComparison.Ordinal);
        Assert.Contains("unknown runtime 'process2'; known runtimes: process", await Rejected("""{"agent":"count","input":"x","runtime":"process2"}"""), StringComparison.Ordinal);

        using var notFound = await fleet.Api.GetAsync($"api/runs/{Guid.NewGuid()}", Ct);
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
        using var badState = await fleet.Api.GetAsync("api/runs?state=Sleeping", Ct);
        Assert.Equal(HttpStatusCode.BadRequest, badState.StatusCode);

        var id = await fleet.SubmitAsync("count", "still fine", 5, Ct);
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromSeconds(60), Ct);
        Assert.Equal("Succeeded", Assert.Single(await fleet.RowsAsync([id], Ct)).State);
    }

    [Fact]
    public async Task A_malformed_amqp_message_goes_to_the_error_queue_and_the_saga_keeps_serving()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct);
        await fleet.AddWorkerAsync(slots: 2, Ct);

        var factory = new ConnectionFactory { Uri = fleet.Vhost.AmqpUrl };
        await using (var connection = await factory.CreateConnectionAsync(Ct))
        await using (var channel = await connection.CreateChannelAsync(cancellationToken: Ct))
        {
            var properties = new BasicProperties { ContentType = "application/vnd.masstransit+json", Persistent = true, MessageId = Guid.NewGuid().ToString() };
            await channel.BasicPublishAsync("Workers.Contracts:SubmitRun", "", mandatory: false, properties, Encoding.UTF8.GetBytes("{ this is not json"), Ct);
        }

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await ErrorQueueDepthAsync(fleet) == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the malformed message never reached run-state_error");
            await Task.Delay(200, Ct);
        }

        var id = await fleet.SubmitAsync("count", "after the garbage", 5, Ct);
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromSeconds(60), Ct);
        Assert.Equal("Succeeded", Assert.Single(await fleet.RowsAsync([id], Ct)).State);
    }

    /// <summary>MassTransit declares the error queue with the first fault, so "no such queue" means none yet.</summary>
    static async Task<uint> ErrorQueueDepthAsync(DistributedFleet fleet)
    {
        try
        {
            return (await fleet.Vhost.GetQueueDepthAsync("run-state_error", Ct)).Messages;
        }
        catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return 0;
        }
    }

    [Theory]
    [InlineData("Workers__Bus__Transport", "RabbitMq", "Workers:Bus:RabbitMqUrl is required")]
    [InlineData("Workers__Bus__RabbitMqUrl", "http://not-amqp", "is not an amqp:// or amqps:// URL")]
    [InlineData("Workers__Store__Provider", "Postgres", "Workers:Store:ConnectionString is required")]
    [InlineData("Workers__Agents__Path", "/nonexistent/agents.yaml", "/nonexistent/agents.yaml")]
    public async Task A_missing_or_wrong_setting_stops_the_orchestrator_with_a_message_naming_it(string key, string value, string expected)
    {
        var options = new ManagedProcessOptions { Name = "orchestrator", Log = TestOutput.ForCurrentTest() };
        options.Environment["RABBITMQ_URL"] = null;
        options.Environment["POSTGRES_URL"] = null;
        options.Environment["Workers__Agents__Path"] = RepoPaths.AgentsYaml;
        options.Environment["Workers__Store__ConnectionString"] = null;
        if (key == "Workers__Bus__RabbitMqUrl")
            options.Environment["Workers__Bus__Transport"] = "RabbitMq";
        options.Environment[key] = value;
        var data = Directory.CreateTempSubdirectory("workers-settings-").FullName;
        if (key != "Workers__Store__Provider")
            options.Environment["Workers__Store__ConnectionString"] = $"Data Source={Path.Combine(data, "w.db")}";

        await using var host = ManagedProcess.StartDotnet(RepoPaths.OrchestratorDll, ["--urls", $"http://127.0.0.1:{FreePort.Get()}"], options);
        var exit = await host.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct);

        Assert.NotEqual(0, exit);
        Assert.Contains(host.Output, line => line.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_worker_told_to_offer_an_unknown_runtime_stops_naming_the_known_ones()
    {
        var options = new ManagedProcessOptions { Name = "worker", Log = TestOutput.ForCurrentTest() };
        options.Environment["RABBITMQ_URL"] = null;
        options.Environment["Workers__Agents__Path"] = RepoPaths.AgentsYaml;
        options.Environment["Workers__Worker__Runtimes__0"] = "telepathy";

        await using var host = ManagedProcess.StartDotnet(RepoPaths.WorkerDll, [], options);
        var exit = await host.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct);

        Assert.NotEqual(0, exit);
        Assert.Contains(host.Output, line => line.Contains("unknown runtime(s) telepathy; known runtimes: process", StringComparison.Ordinal));
    }
}
