using Workers.Agents.Runtimes;
using Workers.Agents.Runtimes.Native;
using Workers.Agents.Runtimes.Native.Providers;
using Workers.Testing;

namespace Workers.Agents.Tests.Native;

/// <summary>The checkpoint state: its size limit, and what an attempt does with a checkpoint it cannot use as is.</summary>
public sealed class CheckpointTests : IDisposable
{
    private readonly NativeHarness _h = new();

    public void Dispose() => _h.Dispose();

    [Fact]
    public void A_state_over_the_limit_drops_the_oldest_tool_outputs_first()
    {
        var big = new string('x', 40_000);
        var state = new ConversationState(ConversationState.CurrentVersion, 3, 1, 2, 0.5m,
        [
            new ChatMessage(ChatRole.User, "task"),
            new ChatMessage(ChatRole.Assistant, null, [new ToolCall("1", "read_file", "{}")]),
            new ChatMessage(ChatRole.User, ToolResults: [new ToolResult("1", big, false)]),
            new ChatMessage(ChatRole.Assistant, null, [new ToolCall("2", "read_file", "{}")]),
            new ChatMessage(ChatRole.User, ToolResults: [new ToolResult("2", big, false)]),
            new ChatMessage(ChatRole.Assistant, null, [new ToolCall("3", "read_file", "{}")]),
            new ChatMessage(ChatRole.User, ToolResults: [new ToolResult("3", "small", false)]),
        ]);

        var text = state.Serialize(maxLength: 60_000);

        Assert.True(text.Length <= 60_000);
        var restored = ConversationState.Deserialize(text);
        Assert.NotNull(restored);
        Assert.Equal(ConversationState.DroppedOutput, restored.Messages[2].ToolResults![0].Content);
        Assert.Equal(big, restored.Messages[4].ToolResults![0].Content);
        Assert.Equal("small", restored.Messages[6].ToolResults![0].Content);
        Assert.Equal(3, restored.Step);
        Assert.Equal(0.5m, restored.CostUsd);
        Assert.Equal(state.Serialize(int.MaxValue).Length, ConversationState.Deserialize(state.Serialize(int.MaxValue))!.Serialize(int.MaxValue).Length);
    }

    [Fact]
    public async Task An_unreadable_checkpoint_is_logged_and_the_attempt_starts_over()
    {
        _h.Server.Then(OpenAiWire.Text("fresh start"));

        var outcome = await _h.RunAsync(_h.OpenAi(), "Task.", attempt: 2, resumeFrom: new AgentCheckpoint(1, 4, "{not a state"));

        Assert.Equal(new AgentOutcome.Succeeded("fresh start"), outcome);
        Assert.Contains(_h.Events.Events, e => e is AgentEvent.Log log && log.Text.Contains("could not be read; starting over", StringComparison.Ordinal));
        Assert.DoesNotContain(_h.Events.Events, e => e is AgentEvent.Resumed);
        Assert.Equal(2, _h.Server.Requests[0].Body["messages"]!.AsArray().Count);
        Assert.Equal([1], _h.Events.Events.OfType<AgentEvent.Checkpoint>().Select(c => c.Step));
    }

    [Fact]
    public async Task A_checkpoint_taken_after_the_final_answer_succeeds_without_calling_the_model()
    {
        _h.Server.Then(OpenAiWire.Text("the answer"));
        await _h.RunAsync(_h.OpenAi(), "Task.");
        var checkpoint = _h.Events.Events.OfType<AgentEvent.Checkpoint>().Single();

        using var next = new NativeHarness();
        var outcome = await next.RunAsync(next.OpenAi(), "Task.", attempt: 2, resumeFrom: new AgentCheckpoint(1, checkpoint.Step, checkpoint.State));

        Assert.Equal(new AgentOutcome.Succeeded("the answer"), outcome);
        Assert.Empty(next.Server.Requests);
        Assert.Equal(new AgentEvent.Resumed(1, 1), Assert.Single(next.Events.Events));
    }

    [Fact]
    public async Task Budgets_and_the_step_limit_count_the_steps_and_tokens_of_earlier_attempts()
    {
        _h.Server
            .Then(OpenAiWire.ToolCalls(400, 100, ("1", "list_directory", new { })))
            .Then(new ScriptedResponse(400, OpenAiWire.Error("stop here")));
        await _h.RunAsync(_h.OpenAi(), "Task.");
        var checkpoint = _h.Events.Events.OfType<AgentEvent.Checkpoint>().Single();

        using var next = new NativeHarness();
        var outcome = await next.RunAsync(next.OpenAi(("maxTokens", 500)), "Task.", attempt: 2, resumeFrom: new AgentCheckpoint(1, checkpoint.Step, checkpoint.State));

        Assert.Equal(NativeFailureKinds.BudgetExceeded, Assert.IsType<AgentOutcome.Failed>(outcome).Kind);
        Assert.Empty(next.Server.Requests);

        using var third = new NativeHarness();
        outcome = await third.RunAsync(third.OpenAi(("maxSteps", 1)), "Task.", attempt: 3, resumeFrom: new AgentCheckpoint(1, checkpoint.Step, checkpoint.State));
        Assert.Equal(NativeFailureKinds.MaxSteps, Assert.IsType<AgentOutcome.Failed>(outcome).Kind);
        Assert.Empty(third.Server.Requests);
    }
}
