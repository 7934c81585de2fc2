using System.Text.Json.Nodes;

using Workers.Agents.Runtimes;
using Workers.Agents.Runtimes.Native;
using Workers.Testing;

namespace Workers.Agents.Tests.Native;

/// <summary>The native loop end to end against fake providers on loopback speaking the real wire formats.</summary>
public sealed class NativeRuntimeTests : IDisposable
{
    private readonly NativeHarness _h = new();

    public void Dispose() => _h.Dispose();

    [Fact]
    public async Task OpenAI_model_writes_a_file_reads_it_back_runs_a_command_then_answers()
    {
        _h.Server
            .Then(OpenAiWire.ToolCalls(100, 20, ("call_1", "write_file", new { path = "notes/hello.txt", content = "hello from the model\n" })))
            .Then(OpenAiWire.ToolCalls(150, 10, ("call_2", "read_file", new { path = "notes/hello.txt" })))
            .Then(OpenAiWire.ToolCalls(200, 10, ("call_3", "run_command", new { command = "wc -c < notes/hello.txt && echo done" })))
            .Then(OpenAiWire.Text("The file has 21 bytes.", 250, 15));

        var outcome = await _h.RunAsync(_h.OpenAi(), "Write a note, check it and count its bytes.");

        Assert.Equal(new AgentOutcome.Succeeded("The file has 21 bytes."), outcome);
        Assert.Equal("hello from the model\n", await File.ReadAllTextAsync(Path.Combine(_h.Workspace, "notes", "hello.txt"), TestContext.Current.CancellationToken));

        var events = _h.Events.Events;
        Assert.Equal(["write_file", "read_file", "run_command"], events.OfType<AgentEvent.ToolStarted>().Select(e => e.Tool));
        var completed = events.OfType<AgentEvent.ToolCompleted>().ToList();
        Assert.All(completed, c => Assert.False(c.IsError));
        Assert.Equal("hello from the model\n", completed[1].Output);
        Assert.Contains("21\ndone", completed[2].Output, StringComparison.Ordinal);
        Assert.Equal(["call_1", "call_2", "call_3"], completed.Select(c => c.CallId));
        Assert.Equal("The file has 21 bytes.", Assert.Single(events.OfType<AgentEvent.Message>()).Text);

        var usage = events.OfType<AgentEvent.Usage>().ToList();
        Assert.Equal(4, usage.Sum(u => u.Steps));
        Assert.Equal(700, usage.Sum(u => u.InputTokens));
        Assert.Equal(55, usage.Sum(u => u.OutputTokens));
        Assert.Equal(((700 * 1m) + (55 * 2m)) / 1_000_000m, usage.Sum(u => u.CostUsd));
        Assert.Equal([1, 2, 3, 4], events.OfType<AgentEvent.Checkpoint>().Select(c => c.Step));

        // The wire: system prompt first, the tools offered, each result fed back under its call id, the key as a bearer token.
        var requests = _h.Server.Requests;
        Assert.Equal(4, requests.Count);
        Assert.All(requests, r => Assert.Equal("/v1/chat/completions", r.Path));
        Assert.All(requests, r => Assert.Equal("Bearer " + NativeHarness.Key, r.Authorization));
        var first = requests[0].Body;
        Assert.Equal("fake-model", (string?)first["model"]);
        Assert.Equal("system", (string?)first["messages"]![0]!["role"]);
        Assert.Equal("You are a careful test agent.", (string?)first["messages"]![0]!["content"]);
        Assert.Equal(
            ["read_file", "write_file", "edit_file", "list_directory", "search_text", "run_command"],
            first["tools"]!.AsArray().Select(t => (string?)t!["function"]!["name"]));
        var last = requests[3].Body["messages"]!.AsArray();
        var toolMessage = last.Last(m => (string?)m!["role"] == "tool")!;
        Assert.Equal("call_3", (string?)toolMessage["tool_call_id"]);
        Assert.Equal(8, last.Count); // system, user, then assistant + tool three times

        // The key never reaches an event.
        Assert.DoesNotContain(events, e => e.ToString().Contains(NativeHarness.Key, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Anthropic_model_uses_tools_through_tool_use_blocks_then_answers()
    {
        _h.Server
            .Then(AnthropicWire.ToolUses(
                40, 12, ("toolu_1", "write_file", new { path = "a.txt", content = "one two" }), ("toolu_2", "edit_file", new { path = "a.txt", old_text = "two", new_text = "three" })))
            .Then(AnthropicWire.ToolUses(60, 8, ("toolu_3", "search_text", new { text = "three" })))
            .Then(AnthropicWire.Text("a.txt now says 'one three'.", 80, 9));

        var outcome = await _h.RunAsync(_h.Anthropic(), "Edit a file.");

        Assert.Equal(new AgentOutcome.Succeeded("a.txt now says 'one three'."), outcome);
        Assert.Equal("one three", await File.ReadAllTextAsync(Path.Combine(_h.Workspace, "a.txt"), TestContext.Current.CancellationToken));
        Assert.Equal("a.txt:1: one three", _h.Events.Events.OfType<AgentEvent.ToolCompleted>().Last().Output);
        Assert.Equal(3, _h.Events.Events.OfType<AgentEvent.Usage>().Sum(u => u.Steps));
        Assert.Equal(180, _h.Events.Events.OfType<AgentEvent.Usage>().Sum(u => u.InputTokens));

        var requests = _h.Server.Requests;
        Assert.All(requests, r => Assert.Equal("/v1/messages", r.Path));
        Assert.All(requests, r => Assert.Equal("Bearer " + NativeHarness.Key, r.Authorization)); // the SDK sends API keys as bearer tokens
        var first = requests[0].Body;
        Assert.Equal("You are a careful test agent.", SystemText(first));
        Assert.Equal(4096, (int?)first["max_tokens"]);
        Assert.Contains(first["tools"]!.AsArray(), t => (string?)t!["name"] == "run_command" && t["input_schema"]!["properties"]!["command"] is not null);

        // The second request carries the assistant's tool_use blocks and a user message with both tool_result blocks.
        var messages = requests[1].Body["messages"]!.AsArray();
        Assert.Equal(["user", "assistant", "user"], messages.Select(m => (string?)m!["role"]));
        Assert.Equal(["tool_use", "tool_use"], messages[1]!["content"]!.AsArray().Select(b => (string?)b!["type"]));
        var results = messages[2]!["content"]!.AsArray();
        Assert.Equal(["toolu_1", "toolu_2"], results.Select(b => (string?)b!["tool_use_id"]));
        Assert.Equal(["tool_result", "tool_result"], results.Select(b => (string?)b!["type"]));
    }

    [Fact]
    public async Task A_retried_attempt_resumes_from_the_checkpoint_after_step_2_of_4()
    {
        // Attempt 1: two tool steps, then the provider fails the third call for good.
        _h.Server
            .Then(OpenAiWire.ToolCalls(10, 1, ("c1", "write_file", new { path = "step1.txt", content = "1" })))
            .Then(OpenAiWire.ToolCalls(20, 1, ("c2", "list_directory", new { })))
            .Then(new ScriptedResponse(400, OpenAiWire.Error("context too long")));
        var first = await _h.RunAsync(_h.OpenAi(), "Four steps, please.");
        Assert.Equal(NativeFailureKinds.ProviderBadRequest, Assert.IsType<AgentOutcome.Failed>(first).Kind);
        var checkpoint = _h.Events.Events.OfType<AgentEvent.Checkpoint>().Last();
        Assert.Equal(2, checkpoint.Step);
        var seenBefore = _h.Server.Requests.Count;

        // Attempt 2 resumes: steps 3 and 4 only.
        using var second = new NativeHarness();
        second.Server
            .Then(OpenAiWire.ToolCalls(30, 1, ("c3", "read_file", new { path = "step1.txt" })))
            .Then(OpenAiWire.Text("Done in four steps.", 40, 2));
        var settings = second.OpenAi();
        var outcome = await second.RunAsync(settings, "Four steps, please.", attempt: 2, resumeFrom: new AgentCheckpoint(1, checkpoint.Step, checkpoint.State));

        Assert.Equal(new AgentOutcome.Succeeded("Done in four steps."), outcome);
        Assert.Equal(3, seenBefore);
        var events = second.Events.Events;
        Assert.Equal(new AgentEvent.Resumed(2, 1), events[0]);
        Assert.Equal([3, 4], events.OfType<AgentEvent.Checkpoint>().Select(c => c.Step));
        Assert.Equal(2, events.OfType<AgentEvent.Usage>().Sum(u => u.Steps));

        // The fake server sees the restored conversation: both earlier tool steps, then the resume note.
        var messages = second.Server.Requests[0].Body["messages"]!.AsArray();
        Assert.Equal(["system", "user", "assistant", "tool", "assistant", "tool", "user"], messages.Select(m => (string?)m!["role"]));
        Assert.Equal("c1", (string?)messages[2]!["tool_calls"]![0]!["id"]);
        Assert.Equal("c2", (string?)messages[5]!["tool_call_id"]);
        Assert.Contains("resumed", MessageText(messages[6]!), StringComparison.Ordinal);

        // The file written in attempt 1 is not in attempt 2's fresh workspace, and the model is told so.
        Assert.True(events.OfType<AgentEvent.ToolCompleted>().Single().IsError);
    }

    [Fact]
    public async Task Sandbox_escapes_the_model_attempts_are_refused_as_tool_errors()
    {
        var outside = _h.Directory.WriteFile("secret.txt", "top secret");
        File.CreateSymbolicLink(Path.Combine(_h.Workspace, "link-out"), _h.Directory.Path);
        _h.Server
            .Then(OpenAiWire.ToolCalls(
                10, 1,
                ("e1", "read_file", new { path = "../secret.txt" }),
                ("e2", "read_file", new { path = outside }),
                ("e3", "read_file", new { path = "link-out/secret.txt" }),
                ("e4", "write_file", new { path = "link-out/planted.txt", content = "x" }),
                ("e5", "list_directory", new { path = "/" }),
                ("e6", "edit_file", new { path = "link-out/secret.txt", old_text = "top", new_text = "no" })))
            .Then(OpenAiWire.Text("I could not get out."));

        var outcome = await _h.RunAsync(_h.OpenAi(), "Try to escape.");

        Assert.IsType<AgentOutcome.Succeeded>(outcome);
        var completed = _h.Events.Events.OfType<AgentEvent.ToolCompleted>().ToList();
        Assert.Equal(6, completed.Count);
        Assert.All(completed, c => Assert.True(c.IsError));
        Assert.All(completed, c => Assert.Contains("outside the workspace", c.Output, StringComparison.Ordinal));
        Assert.Equal("top secret", await File.ReadAllTextAsync(outside, TestContext.Current.CancellationToken));
        Assert.False(File.Exists(Path.Combine(_h.Directory.Path, "planted.txt")));

        var results = _h.Server.Requests[1].Body["messages"]!.AsArray().Where(m => (string?)m!["role"] == "tool").ToList();
        Assert.Equal(6, results.Count);
        Assert.All(results, r => Assert.StartsWith("Error: ", MessageText(r!), StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_shell_tool_gets_no_worker_secrets_and_is_killed_on_timeout()
    {
        Environment.SetEnvironmentVariable("WORKERS_TEST_SECRET", "hunter2");
        using var harness = new NativeHarness(o => o.CommandTimeout = TimeSpan.FromSeconds(1));
        harness.Server
            .Then(OpenAiWire.ToolCalls(10, 1, ("s1", "run_command", new { command = "echo \"secret=[$WORKERS_TEST_SECRET] home=$HOME\"; env | wc -l" })))
            .Then(OpenAiWire.ToolCalls(10, 1, ("s2", "run_command", new { command = "sleep 30 & sleep 30; echo never" })))
            .Then(OpenAiWire.ToolCalls(10, 1, ("s3", "run_command", new { command = "sleep 300 > /dev/null 2>&1 & echo $! > bg.pid; echo started" })))
            .Then(OpenAiWire.Text("ok"));

        var started = DateTimeOffset.UtcNow;
        var outcome = await harness.RunAsync(harness.OpenAi(), "Look around.");

        Assert.IsType<AgentOutcome.Succeeded>(outcome);
        Assert.True(DateTimeOffset.UtcNow - started < TimeSpan.FromSeconds(20));
        var completed = harness.Events.Events.OfType<AgentEvent.ToolCompleted>().ToList();
        Assert.Contains($"secret=[] home={new DirectoryInfo(harness.Workspace).FullName}", completed[0].Output, StringComparison.Ordinal);
        Assert.True(completed[1].IsError);
        Assert.Contains("timeout", completed[1].Output, StringComparison.Ordinal);
        Assert.DoesNotContain("never", completed[1].Output, StringComparison.Ordinal);

        // What a command leaves running in the background ends with it.
        Assert.Equal("Exit code 0.\nstarted\n", completed[2].Output);
        var pid = int.Parse(await File.ReadAllTextAsync(Path.Combine(harness.Workspace, "bg.pid"), TestContext.Current.CancellationToken), System.Globalization.CultureInfo.InvariantCulture);
        for (var waited = 0; TestData.IsRunning(pid) && waited < 50; waited++)
        {
            await Task.Delay(100, TestContext.Current.CancellationToken); // SIGKILL was sent; give the kernel a moment
        }

        Assert.False(TestData.IsRunning(pid));
    }

    [Fact]
    public async Task A_step_limit_stops_the_loop_as_max_steps()
    {
        for (var i = 0; i < 3; i++)
        {
            _h.Server.Then(OpenAiWire.ToolCalls(10, 1, ($"m{i}", "list_directory", new { })));
        }

        var outcome = await _h.RunAsync(_h.OpenAi(("maxSteps", 2)), "Loop forever.");

        var failed = Assert.IsType<AgentOutcome.Failed>(outcome);
        Assert.Equal(NativeFailureKinds.MaxSteps, failed.Kind);
        Assert.False(failed.Retryable);
        Assert.Equal(2, _h.Server.Requests.Count);
    }

    [Fact]
    public async Task A_token_budget_stops_the_loop_as_budget_exceeded()
    {
        _h.Server
            .Then(OpenAiWire.ToolCalls(600, 100, ("b1", "list_directory", new { })))
            .Then(OpenAiWire.ToolCalls(600, 100, ("b2", "list_directory", new { })));

        var outcome = await _h.RunAsync(_h.OpenAi(("maxTokens", 1000)), "Spend.");

        var failed = Assert.IsType<AgentOutcome.Failed>(outcome);
        Assert.Equal(NativeFailureKinds.BudgetExceeded, failed.Kind);
        Assert.Contains("1400 tokens", failed.Error, StringComparison.Ordinal);
        Assert.Equal(2, _h.Server.Requests.Count);
    }

    [Fact]
    public async Task A_cost_budget_from_the_price_table_stops_the_loop()
    {
        _h.Server.Then(OpenAiWire.ToolCalls(1_000_000, 0, ("c1", "list_directory", new { })));

        var outcome = await _h.RunAsync(_h.OpenAi(("maxCostUsd", 0.5)), "Spend a dollar.");

        Assert.Equal(NativeFailureKinds.BudgetExceeded, Assert.IsType<AgentOutcome.Failed>(outcome).Kind);
        Assert.Equal(1m, _h.Events.Events.OfType<AgentEvent.Usage>().Single().CostUsd);
    }

    [Fact]
    public async Task Cancellation_returns_cancelled_promptly_during_a_slow_call()
    {
        _h.Server.Then(new ScriptedResponse(200, OpenAiWire.Text("late"), Delay: TimeSpan.FromSeconds(30)));
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cancel.CancelAfter(TimeSpan.FromMilliseconds(300));

        var started = DateTimeOffset.UtcNow;
        var outcome = await _h.RunAsync(_h.OpenAi(), "Wait.", cancellationToken: cancel.Token);

        Assert.IsType<AgentOutcome.Cancelled>(outcome);
        Assert.True(DateTimeOffset.UtcNow - started < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_missing_key_variable_fails_the_run_non_retryably_naming_it()
    {
        var settings = _h.OpenAi();
        settings.Remove("apiKey");
        settings["apiKeyEnv"] = "WORKERS_TEST_UNSET_KEY_VARIABLE";
        var outcome = await _h.RunAsync(settings, "Hi.");
        var failed = Assert.IsType<AgentOutcome.Failed>(outcome);
        Assert.Equal(NativeFailureKinds.ProviderAuth, failed.Kind);
        Assert.False(failed.Retryable);
        Assert.Contains("WORKERS_TEST_UNSET_KEY_VARIABLE", failed.Error, StringComparison.Ordinal);
        Assert.Empty(_h.Server.Requests);
    }

    [Fact]
    public async Task The_key_is_read_from_a_file()
    {
        var keyFile = _h.Directory.WriteFile("key.txt", "sk-from-file\n");
        var settings = _h.OpenAi();
        settings.Remove("apiKey");
        settings["apiKeyFile"] = keyFile;
        _h.Server.Then(OpenAiWire.Text("hi"));

        Assert.IsType<AgentOutcome.Succeeded>(await _h.RunAsync(settings, "Hi."));
        Assert.Equal("Bearer sk-from-file", _h.Server.Requests.Single().Authorization);
    }

    [Fact]
    public async Task An_mcp_server_that_fails_to_start_fails_the_run_naming_it()
    {
        var settings = _h.OpenAi(("mcpServers", new Dictionary<string, object> { ["files"] = new { command = "/nonexistent/mcp-server" } }));

        var outcome = await _h.RunAsync(settings, "Hi.");

        var failed = Assert.IsType<AgentOutcome.Failed>(outcome);
        Assert.Equal(NativeFailureKinds.McpServer, failed.Kind);
        Assert.Contains("MCP server 'files'", failed.Error, StringComparison.Ordinal);
        Assert.Empty(_h.Server.Requests);
    }

    [Fact]
    public async Task An_http_mcp_server_that_cannot_be_reached_fails_the_run_naming_it()
    {
        var url = $"http://127.0.0.1:{Workers.Testing.FreePort.Get()}/mcp";
        var settings = _h.OpenAi(("mcpServers", new Dictionary<string, object> { ["remote-docs"] = new { url } }));

        var failed = Assert.IsType<AgentOutcome.Failed>(await _h.RunAsync(settings, "Hi."));

        Assert.Equal(NativeFailureKinds.McpServer, failed.Kind);
        Assert.True(failed.Retryable);
        Assert.StartsWith("MCP server 'remote-docs' failed to start: ", failed.Error, StringComparison.Ordinal);
        Assert.Empty(_h.Server.Requests);
    }

    [Fact]
    public void The_runtime_supports_checkpoints()
    {
        IAgentRuntime runtime = _h.Runtime;
        Assert.True(runtime.SupportsCheckpoints);
        Assert.Equal(RuntimeNames.Native, runtime.Name);
    }

    private static string SystemText(JsonNode body) =>
        body["system"] is JsonValue value ? (string)value! : string.Concat(body["system"]!.AsArray().Select(b => (string?)b!["text"]));

    private static string MessageText(JsonNode message) =>
        message["content"] is JsonValue value ? (string)value! : string.Concat(message["content"]!.AsArray().Select(b => (string?)b!["text"]));
}
