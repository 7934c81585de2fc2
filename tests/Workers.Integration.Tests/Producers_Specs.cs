using System.Text.Json;
using Workers.Integration.Tests.Fleet;
using Workers.Testing;

namespace Workers.Integration.Tests;

/// <summary>Producers outside .NET: JSON over AMQP, exactly as documented in the README.</summary>
public sealed class Producers_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_node_service_publishing_json_over_amqp_gets_its_run_completed()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct);
        await fleet.AddWorkerAsync(slots: 2, Ct);
        var runId = Guid.NewGuid();

        await using var node = ManagedProcess.Start("node",
            [RepoPaths.NodeProducer, "--url", fleet.Vhost.AmqpUrl.ToString(), "--agent", "count", "--input", "from node", "--priority", "7",
             "--run-id", runId.ToString(), "--tenant", "acme", "--label", "team=platform"],
            new ManagedProcessOptions { Name = "node", Log = TestOutput.ForCurrentTest() });
        Assert.Equal(0, await node.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct));
        var printed = JsonDocument.Parse(node.Output.First(l => l.StartsWith('{'))).RootElement;
        Assert.Equal(runId, printed.GetProperty("runId").GetGuid());

        await fleet.WaitForTerminalAsync([runId], TimeSpan.FromSeconds(60), Ct);
        var row = Assert.Single(await fleet.RowsAsync([runId], Ct));
        Assert.Equal("Succeeded", row.State);
        Assert.Equal(7, row.Priority);
        Assert.Equal("done from node", row.Output);
        var view = await fleet.Api.GetStringAsync($"api/runs/{runId}", Ct);
        var json = JsonDocument.Parse(view).RootElement;
        Assert.Equal("acme", json.GetProperty("tenant").GetString());
        Assert.Equal("platform", json.GetProperty("labels").GetProperty("team").GetString());
    }

    [Fact]
    public async Task A_node_service_submitting_an_unknown_agent_gets_a_rejected_run_with_the_reason()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct);
        var runId = Guid.NewGuid();

        await using var node = ManagedProcess.Start("node",
            [RepoPaths.NodeProducer, "--url", fleet.Vhost.AmqpUrl.ToString(), "--agent", "nobody", "--input", "x", "--run-id", runId.ToString()],
            new ManagedProcessOptions { Name = "node", Log = TestOutput.ForCurrentTest() });
        Assert.Equal(0, await node.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct));

        await fleet.WaitForTerminalAsync([runId], TimeSpan.FromSeconds(60), Ct);
        var row = Assert.Single(await fleet.RowsAsync([runId], Ct));
        Assert.Equal("Rejected", row.State);
        Assert.Contains("unknown agent 'nobody'; known agents: chatty, count, edit, hang, reviewer", row.LastError, StringComparison.Ordinal);
    }
}
