using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

using Workers.Agents.Runtimes;
using Workers.Contracts;

namespace Workers.Benchmarks;

/// <summary>
/// The agent's own floor: W1's noop agent started through the process runtime (<c>/bin/echo</c> spawned in a session of its own, its
/// pipes, its result line read back), as many at once as the fleet has slots, with no broker, database or worker around it. Run as a child
/// process of the benchmark (<c>workers-bench agent-floor</c>) like the other floors, so its CPU is counted apart. With the
/// MassTransit round trip it bounds what any fleet that starts a process per run can reach on this machine.
/// </summary>
public static class AgentFloor
{
    public const string Verb = "agent-floor";

    /// <summary>The JSON field the result line carries.</summary>
    public const string Field = "runs_per_s";

    const int WarmUpRuns = 200;

    public static async Task<int> RunAsync(string[] args, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        var runs = Argument(args, "--n", 5_000);
        var concurrency = Argument(args, "--concurrency", 32);
        var workspace = Directory.CreateTempSubdirectory("workers-agent-floor-");
        try
        {
            var agent = new AgentSpec
            {
                Name = BenchFleet.Agent,
                Runtime = RuntimeNames.Process,
                Settings = JsonSerializer.SerializeToElement(new { command = "/bin/echo", args = new[] { BenchFleet.NoopResult } }),
            };
            var runtime = new ProcessRuntime();
            var failures = 0;
            async Task RunOneAsync()
            {
                var outcome = await runtime.RunAsync(new AgentInvocation(Guid.NewGuid(), 1, "bench", agent, workspace.FullName), Sink.Instance, CancellationToken.None);
                if (outcome is not AgentOutcome.Succeeded)
                    Interlocked.Increment(ref failures);
            }

            for (var i = 0; i < WarmUpRuns; i++)
                await RunOneAsync();
            failures = 0;
            var left = runs;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
            {
                while (Interlocked.Decrement(ref left) >= 0)
                    await RunOneAsync();
            })));
            var seconds = clock.Elapsed.TotalSeconds;
            output.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                [Field] = runs / seconds,
                ["runs"] = runs,
                ["concurrency"] = concurrency,
                ["failures"] = failures,
            }));
            return failures == 0 ? 0 : 1;
        }
        finally
        {
            workspace.Delete(recursive: true);
        }
    }

    static int Argument(string[] args, string name, int fallback)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }

    sealed class Sink : IAgentEventSink
    {
        public static readonly Sink Instance = new();

        public void Emit(AgentEvent agentEvent)
        {
        }
    }
}
