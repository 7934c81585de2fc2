using System.Globalization;
using System.Text.Json.Nodes;
using Npgsql;
using Workers.Integration.Tests.Fleet;
using Workers.Testing;

namespace Workers.Integration.Tests;

/// <summary>The native runtime through the real fleet, against a fake OpenAI-compatible provider on loopback.</summary>
public sealed class NativeRuns_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static string Agent(FakeModelServer server) => string.Create(CultureInfo.InvariantCulture, $"""
          builder:
            runtime: native
            native:
              provider: openai
              baseUrl: {server.OpenAiBaseUrl.AbsoluteUri}
              model: fake-model
              apiKey: sk-test-fleet
              tools: [read_file, write_file, run_command]
              maxSteps: 10
            limits:
              maxAttempts: 2
        """);

    [Fact]
    public async Task A_native_run_writes_reads_and_runs_a_command_in_its_workspace_and_the_row_and_events_show_every_step()
    {
        using var server = new FakeModelServer()
            .Then(OpenAiWire.ToolCalls(100, 20, ("c1", "write_file", new { path = "notes.txt", content = "hello fleet" })))
            .Then(OpenAiWire.ToolCalls(120, 20, ("c2", "read_file", new { path = "notes.txt" })))
            .Then(OpenAiWire.ToolCalls(140, 20, ("c3", "run_command", new { command = "wc -c < notes.txt" })))
            .Then(OpenAiWire.Text("The file holds 11 bytes.", 160, 30));
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 1, Ct, extraAgents: Agent(server));
        await fleet.AddWorkerAsync(slots: 2, Ct);

        var id = await fleet.SubmitAsync("builder", "Write notes.txt, read it back and count its bytes.", 5, Ct);
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);

        var run = await fleet.GetRunAsync(id, Ct);
        Assert.Equal(("Succeeded", "The file holds 11 bytes."), (run.State, run.Output));
        Assert.Equal((4, 520L, 90L, 3), (run.Usage.Steps, run.Usage.InputTokens, run.Usage.OutputTokens, run.Usage.ToolCalls));
        var events = await fleet.EventsAsync(id, Ct);
        var tools = events.Where(e => e.Type is "tool-started" or "tool-completed").Select(e => (e.Type, e.Tool)).ToList();
        Assert.Equal(
            [("tool-started", "write_file"), ("tool-completed", "write_file"), ("tool-started", "read_file"), ("tool-completed", "read_file"),
                ("tool-started", "run_command"), ("tool-completed", "run_command")],
            tools);
        Assert.Contains("hello fleet", events.Single(e => e is { Type: "tool-completed", Tool: "read_file" }).Text, StringComparison.Ordinal);
        Assert.Contains("11", events.Single(e => e is { Type: "tool-completed", Tool: "run_command" }).Text, StringComparison.Ordinal);
        Assert.Equal(4, events.Count(e => e.Type == "checkpoint"));
        // The model saw the command's output before it answered.
        Assert.Equal(4, server.Requests.Count);
        Assert.Contains("11", server.Requests[3].Body["messages"]!.AsArray().Last()!.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_native_run_whose_worker_is_killed_after_step_2_of_4_resumes_at_step_3_on_another_worker()
    {
        using var server = new FakeModelServer()
            .Then(OpenAiWire.ToolCalls(100, 20, ("c1", "write_file", new { path = "a.txt", content = "one" })))
            .Then(OpenAiWire.ToolCalls(110, 20, ("c2", "write_file", new { path = "b.txt", content = "two" })))
            // Step 3 of the first attempt: the worker is killed while it waits for this answer.
            .Then(new ScriptedResponse(200, OpenAiWire.Text("never delivered"), Delay: TimeSpan.FromMinutes(2)))
            .Then(OpenAiWire.ToolCalls(120, 20, ("c3", "run_command", new { command = "echo resumed" })))
            .Then(OpenAiWire.Text("Done after resuming.", 130, 30));
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 1, Ct, extraAgents: Agent(server));
        var doomed = await fleet.AddWorkerAsync(slots: 2, Ct, "doomed");

        var id = await fleet.SubmitAsync("builder", "Write two files, then check.", 5, Ct);
        await Poll.UntilAsync(async () => await CheckpointStepAsync(fleet, id) == 2 && server.Requests.Count == 3, "the checkpoint after step 2",
            TimeSpan.FromSeconds(60), Ct, TimeSpan.FromMilliseconds(100));
        doomed.Kill();
        await fleet.AddWorkerAsync(slots: 2, Ct, "survivor");
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);

        var run = await fleet.GetRunAsync(id, Ct);
        Assert.Equal(("Succeeded", 2, "survivor", "Done after resuming."), (run.State, run.Attempt, run.WorkerId, run.Output));
        var events = await fleet.EventsAsync(id, Ct);
        var resumed = Assert.Single(events, e => e.Type == "resumed");
        Assert.Equal(2, resumed.Attempt);
        Assert.Contains("attempt 1 saved after step 2", resumed.Text, StringComparison.Ordinal);
        // Steps 1 and 2 were not asked for again: the second attempt's first request carried the conversation the
        // first attempt had when it was killed, and the script was used exactly once.
        Assert.Equal(5, server.Requests.Count);
        var saved = server.Requests[2].Body["messages"]!.AsArray();
        var resumedWith = server.Requests[3].Body["messages"]!.AsArray();
        Assert.Equal(saved.Count + 1, resumedWith.Count);
        Assert.All(Enumerable.Range(0, saved.Count), i => Assert.True(JsonNode.DeepEquals(saved[i], resumedWith[i]), $"message {i} differs"));
        // The model is told that it resumed in a fresh workspace.
        Assert.Contains("resumed", resumedWith[^1]!["content"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.DoesNotContain(events, e => e is { Attempt: 2, Type: "tool-started", Tool: "write_file" });
    }

    static async Task<int?> CheckpointStepAsync(DistributedFleet fleet, Guid id)
    {
        await using var connection = await fleet.Database.OpenConnectionAsync(Ct);
        await using var command = new NpgsqlCommand("SELECT step FROM run_checkpoints WHERE run_id = @id", connection);
        command.Parameters.AddWithValue("id", id);
        return await command.ExecuteScalarAsync(Ct) is int step ? step : null;
    }
}
