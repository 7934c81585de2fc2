using Workers.Agents.Runtimes;
using Workers.Testing;

namespace Workers.Agents.Tests.Native;

/// <summary>MCP tools beside the built-ins, from a real stdio MCP server (a small python script speaking JSON-RPC).</summary>
public sealed class McpToolTests : IDisposable
{
    private const string Server = """
        import json, os, sys, time
        for line in sys.stdin:
            msg = json.loads(line)
            if "id" not in msg:
                continue
            method, rid = msg.get("method"), msg["id"]
            if method == "initialize":
                result = {"protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}},
                          "serverInfo": {"name": "shouter", "version": "1.0"}}
            elif method == "tools/list":
                result = {"tools": [{"name": "shout", "description": "Upper-cases text.",
                                     "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
                                    {"name": "nap", "inputSchema": {"type": "object", "properties": {}}}]}
            elif method == "tools/call" and msg["params"]["name"] == "nap":
                time.sleep(30)
                continue
            elif method == "tools/call":
                args = msg["params"].get("arguments", {})
                result = {"content": [{"type": "text", "text": args.get("text", "").upper() + " in " + os.path.basename(os.getcwd()) + " " + os.environ.get("GREETING", "-") + os.environ.get("WORKERS_TEST_SECRET", "")}], "isError": False}
            else:
                print(json.dumps({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "no such method"}}), flush=True)
                continue
            print(json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}), flush=True)
        """;

    private readonly NativeHarness _h = new();

    public void Dispose() => _h.Dispose();

    [Fact]
    public async Task The_model_calls_a_tool_of_a_stdio_mcp_server_started_in_the_workspace()
    {
        Assert.SkipUnless(
            (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, "python3"))),
            "python3 is not installed");
        var script = _h.Directory.WriteExecutable("mcp/shouter.py", "#!/usr/bin/env python3\n" + Server);
        _h.Server
            .Then(OpenAiWire.ToolCalls(10, 1, ("m1", "shouter__shout", new { text = "quiet words" })))
            .Then(OpenAiWire.Text("It said QUIET WORDS."));
        var settings = _h.OpenAi(("mcpServers", new Dictionary<string, object> { ["shouter"] = new { command = "python3", args = new[] { script }, env = new { GREETING = "hi" } } }));

        Environment.SetEnvironmentVariable("WORKERS_TEST_SECRET", "hunter2");

        var outcome = await _h.RunAsync(settings, "Shout.");

        Assert.Equal(new AgentOutcome.Succeeded("It said QUIET WORDS."), outcome);
        var completed = Assert.Single(_h.Events.Events.OfType<AgentEvent.ToolCompleted>());
        Assert.Equal("shouter__shout", completed.Tool);
        Assert.Equal("QUIET WORDS in workspace hi", completed.Output); // its env, not the worker's secrets
        var offered = _h.Server.Requests[0].Body["tools"]!.AsArray().Select(t => (string?)t!["function"]!["name"]).ToList();
        Assert.Contains("shouter__shout", offered);
        Assert.Contains("read_file", offered);
    }

    [Fact]
    public async Task An_mcp_call_that_takes_too_long_is_reported_to_the_model_as_an_error()
    {
        Assert.SkipUnless(
            (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, "python3"))),
            "python3 is not installed");
        using var harness = new NativeHarness(o => o.CommandTimeout = TimeSpan.FromSeconds(1));
        var script = harness.Directory.WriteExecutable("mcp/shouter.py", "#!/usr/bin/env python3\n" + Server);
        harness.Server
            .Then(OpenAiWire.ToolCalls(10, 1, ("n1", "shouter__nap", new { })))
            .Then(OpenAiWire.Text("It fell asleep."));
        var settings = harness.OpenAi(("mcpServers", new Dictionary<string, object> { ["shouter"] = new { command = "python3", args = new[] { script } } }));

        var outcome = await harness.RunAsync(settings, "Nap.");

        Assert.Equal(new AgentOutcome.Succeeded("It fell asleep."), outcome);
        var completed = Assert.Single(harness.Events.Events.OfType<AgentEvent.ToolCompleted>());
        Assert.True(completed.IsError);
        Assert.Equal("Error: the MCP server 'shouter' did not answer within 1 seconds", completed.Output);
    }
}
