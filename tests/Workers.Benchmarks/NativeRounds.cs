using System.ClientModel;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

using Microsoft.Extensions.Logging.Abstractions;

using OpenAI;
using OpenAI.Chat;

using Workers.Agents.Runtimes;
using Workers.Agents.Runtimes.Native;
using Workers.Contracts;
using Workers.Testing;

namespace Workers.Benchmarks;

/// <summary>
/// The native runtime's two measurements. Density: W5's round with the built-in loop instead of a process, against a fake
/// OpenAI-compatible model that answers each call after 2 s (a tool call until the run has taken its steps, then an
/// answer), so a thousand runs wait on the model at once in one worker. Overhead: one step of the loop against the SDK call
/// it wraps, in this process, against a fake that answers at once.
/// </summary>
public static class NativeRounds
{
    /// <summary>How long the fake model takes per call in the density round.</summary>
    public static readonly TimeSpan ModelDelay = TimeSpan.FromSeconds(2);

    /// <summary>Steps each density run takes (tool calls of <c>list_directory</c>, then an answer): long enough to outlast the round.</summary>
    public const int DensitySteps = 40;

    const int OverheadCalls = 2_000;
    const int WarmUpCalls = 200;
    const string SystemPrompt = "You are a careful test agent.";
    const string Task = "Say hello.";

    public static string DensityTitle =>
        $"W5 for the native runtime: 1 worker whose slots equal the runs (default 1,000), all runs of the `slow-native` agent (the built-in loop, " +
        $"OpenAI-compatible provider) against a fake model on loopback that answers every call after {ModelDelay.TotalSeconds:0} s with a `list_directory` " +
        $"tool call ({DensitySteps} steps per run), so every run waits on the model at once. Same figures as W5; there are no agent processes.";

    public static string OverheadTitle =>
        $"Native loop overhead: in one process, a fake OpenAI-compatible server on loopback answering at once with a final answer; " +
        $"`sdk` is `ChatClient.CompleteChatAsync` (system prompt, task, the six built-in tool definitions), `native` is a whole one-step " +
        $"`NativeRuntime.RunAsync` (settings, key, sandbox and tools set up, the call through the Polly edge, usage and checkpoint events). " +
        $"{OverheadCalls:N0} calls of each after {WarmUpCalls} warm-up calls, alternating per round.";

    public static async Task<Dictionary<Figure, double>> DensityAsync(BenchmarkOptions options, HostBuild hosts, int round, TextWriter progress,
        CancellationToken cancellationToken)
    {
        using var model = new FakeModelServer
        {
            Forget = true,
            Responder = request => request.Body["messages"]!.AsArray().Count < 2 + (2 * DensitySteps)
                ? new ScriptedResponse(200, OpenAiWire.ToolCalls(100, 10, ("call-" + Guid.NewGuid().ToString("N")[..8], "list_directory", new { path = "." })), ModelDelay)
                : new ScriptedResponse(200, OpenAiWire.Text("done", 100, 10), ModelDelay),
        };
        BenchFleet.ModelEndpoint = model.OpenAiBaseUrl;
        return await DensityRound.RunAsync(options, hosts, round, progress, "native-density", BenchFleet.NativeAgent, cancellationToken);
    }

    public static async Task<Dictionary<Figure, double>> OverheadAsync(BenchmarkOptions options, HostBuild hosts, int round, TextWriter progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(progress);
        using var model = new FakeModelServer { Forget = true, Responder = _ => new ScriptedResponse(200, OpenAiWire.Text("hello", 10, 5)) };
        using var runtime = new NativeRuntime(Microsoft.Extensions.Options.Options.Create(new NativeRuntimeOptions()), TimeProvider.System,
            NullLogger<NativeRuntime>.Instance);
        var workspace = Directory.CreateTempSubdirectory("workers-bench-native-").FullName;
        try
        {
            var client = new ChatClient("fake-model", new ApiKeyCredential("sk-bench"), new OpenAIClientOptions { Endpoint = model.OpenAiBaseUrl });
            var chatOptions = new ChatCompletionOptions();
            foreach (var tool in new[] { "read_file", "write_file", "edit_file", "list_directory", "search_text", "run_command" })
            {
                chatOptions.Tools.Add(ChatTool.CreateFunctionTool(tool, $"the {tool} tool",
                    BinaryData.FromString("""{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}""")));
            }
            var spec = new AgentSpec
            {
                Name = "overhead",
                Runtime = RuntimeNames.Native,
                Settings = JsonSerializer.SerializeToElement(new
                {
                    provider = "openai",
                    baseUrl = model.OpenAiBaseUrl.AbsoluteUri,
                    model = "fake-model",
                    apiKey = "sk-bench",
                    systemPrompt = SystemPrompt,
                }),
            };
            var sink = new DiscardingSink();

            Task Sdk() => client.CompleteChatAsync([new SystemChatMessage(SystemPrompt), new UserChatMessage(Task)], chatOptions, cancellationToken);

            async Task Native()
            {
                var outcome = await runtime.RunAsync(new AgentInvocation(Guid.NewGuid(), 1, Task, spec, workspace), sink, cancellationToken).ConfigureAwait(false);
                if (outcome is not AgentOutcome.Succeeded)
                    throw new InvalidOperationException($"the native run did not succeed: {outcome}");
            }

            // Alternate which goes first, so drift on a shared machine does not always favour one.
            Sample sdk, native;
            if (round % 2 == 1)
            {
                sdk = await MeasureAsync(Sdk);
                native = await MeasureAsync(Native);
            }
            else
            {
                native = await MeasureAsync(Native);
                sdk = await MeasureAsync(Sdk);
            }
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"native-overhead round {round}: sdk {sdk.MedianMicroseconds:0} µs, native step {native.MedianMicroseconds:0} µs per call (medians)"));
            return new Dictionary<Figure, double>
            {
                [NativeFigures.SdkMicroseconds] = sdk.MedianMicroseconds,
                [NativeFigures.NativeMicroseconds] = native.MedianMicroseconds,
                [NativeFigures.OverheadMicroseconds] = native.MedianMicroseconds - sdk.MedianMicroseconds,
                [NativeFigures.SdkAllocatedKib] = sdk.AllocatedKib,
                [NativeFigures.NativeAllocatedKib] = native.AllocatedKib,
            };
        }
        finally
        {
            Directory.Delete(workspace, recursive: true);
        }
    }

    readonly record struct Sample(double MedianMicroseconds, double AllocatedKib);

    static async Task<Sample> MeasureAsync(Func<Task> call)
    {
        for (var i = 0; i < WarmUpCalls; i++)
            await call().ConfigureAwait(false);
        var times = new double[OverheadCalls];
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        for (var i = 0; i < OverheadCalls; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await call().ConfigureAwait(false);
            times[i] = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        }
        var allocated = (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / (double)OverheadCalls / 1024;
        Array.Sort(times);
        return new Sample(times[times.Length / 2], allocated);
    }

    sealed class DiscardingSink : IAgentEventSink
    {
        public void Emit(AgentEvent agentEvent)
        {
        }
    }
}

/// <summary>The native overhead workload's figures.</summary>
public static class NativeFigures
{
    public static readonly Figure SdkMicroseconds = new("native_sdk_us", "SDK call alone, µs (median of 2,000)", 0,
        "`ChatClient.CompleteChatAsync` against the fake, the same prompt and tool definitions.");
    public static readonly Figure NativeMicroseconds = new("native_step_us", "one native step, µs (median of 2,000)", 0,
        "A whole one-step `NativeRuntime.RunAsync` against the same fake.");
    public static readonly Figure OverheadMicroseconds = new("native_overhead_us", "**loop overhead per step, µs**", 0,
        "Native step minus SDK call: what the loop adds around one model call (most of it set-up paid once per attempt).");
    public static readonly Figure SdkAllocatedKib = new("native_sdk_alloc_kib", "allocated per SDK call, KiB", 1, "`GC.GetTotalAllocatedBytes` over the calls / calls.");
    public static readonly Figure NativeAllocatedKib = new("native_step_alloc_kib", "allocated per native step, KiB", 1, "As above.");

    public static readonly IReadOnlyList<Figure> All = [OverheadMicroseconds, SdkMicroseconds, NativeMicroseconds, SdkAllocatedKib, NativeAllocatedKib, Figures.LoadBefore];
}
