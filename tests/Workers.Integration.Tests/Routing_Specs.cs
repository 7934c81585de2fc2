using System.Net.Http.Json;
using System.Text.Json;
using Workers.Integration.Tests.Fleet;
using Workers.Orchestrator.Api;

namespace Workers.Integration.Tests;

/// <summary>Capability routing: a run only reaches a worker that offers its runtime.</summary>
public sealed class Routing_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Runs_of_a_runtime_only_some_workers_offer_go_only_to_those_workers_while_other_runs_go_anywhere()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0.3, Ct);
        var claude = Path.Combine(fleet.Root, "bin", "claude");
        Directory.CreateDirectory(Path.GetDirectoryName(claude)!);
        // A fake Claude Code CLI printing the real stream-json shape: init, one assistant message, the final result.
        File.WriteAllText(claude, """
            #!/usr/bin/env bash
            if [ "$1" = "--version" ]; then echo "2.0.0 (Claude Code)"; exit 0; fi
            echo '{"type":"system","subtype":"init","session_id":"s1","model":"claude-sonnet-4-5","tools":[]}'
            echo '{"type":"assistant","message":{"id":"m1","role":"assistant","content":[{"type":"text","text":"reviewing"}]},"session_id":"s1"}'
            echo '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"looks good","session_id":"s1","total_cost_usd":0.01,"usage":{"input_tokens":10,"output_tokens":5}}'
            """.ReplaceLineEndings("\n"));
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(claude, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await fleet.AddWorkerAsync(slots: 4, Ct, "plain");
        await fleet.AddWorkerAsync(slots: 4, Ct, "with-claude", new Dictionary<string, string>
        {
            ["Workers__Runtimes__ClaudeCode__Command"] = claude,
            ["ANTHROPIC_API_KEY"] = "sk-test",
        });

        var reviews = await fleet.SubmitManyAsync(Enumerable.Range(0, 6).Select(i => ("reviewer", $"review {i}", 5)), Ct);
        var counts = await fleet.SubmitManyAsync(Enumerable.Range(0, 12).Select(i => ("count", $"count {i}", 5)), Ct);
        await fleet.WaitForTerminalAsync([.. reviews, .. counts], TimeSpan.FromMinutes(2), Ct);

        var workers = await fleet.Api.GetFromJsonAsync<List<WorkerView>>("api/workers", JsonSerializerOptions.Web, Ct);
        var plain = workers!.Single(w => w.WorkerId == "plain");
        Assert.DoesNotContain("claude-code", plain.Runtimes);
        // The registry says why the plain worker does not offer claude-code, and where to read how to fix it.
        var missing = Assert.Single(plain.Unavailable, u => u.Runtime == "claude-code");
        Assert.Contains("not on PATH", missing.Problem, StringComparison.Ordinal);
        Assert.StartsWith("https://", missing.HelpUrl, StringComparison.Ordinal);
        Assert.Contains("claude-code", workers!.Single(w => w.WorkerId == "with-claude").Runtimes);
        var reviewRows = await fleet.RowsAsync(reviews, Ct);
        Assert.All(reviewRows, r => Assert.Equal(("Succeeded", "with-claude", "looks good"), (r.State, r.WorkerId, r.Output)));
        var countRows = await fleet.RowsAsync(counts, Ct);
        Assert.All(countRows, r => Assert.Equal("Succeeded", r.State));
        Assert.Contains(countRows, r => r.WorkerId == "plain");
    }
}
