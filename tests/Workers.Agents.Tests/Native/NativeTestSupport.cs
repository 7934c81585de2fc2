using System.Text.Json;

using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

using Workers.Agents.Runtimes;
using Workers.Agents.Runtimes.Native;
using Workers.Contracts;
using Workers.Testing;

namespace Workers.Agents.Tests.Native;

/// <summary>A native runtime with fast retries, a fake server and a workspace, for one test.</summary>
internal sealed class NativeHarness : IDisposable
{
    public const string Key = "sk-test-secret-123";

    public NativeHarness(Action<NativeRuntimeOptions>? configure = null)
    {
        Options = new NativeRuntimeOptions
        {
            RetryBaseDelay = TimeSpan.FromMilliseconds(10),
            MaxRetryDelay = TimeSpan.FromSeconds(3),
            CallTimeout = TimeSpan.FromSeconds(5),
            Prices = { ["fake-model"] = new ModelPrice { InputPerMillionTokens = 1m, OutputPerMillionTokens = 2m } },
        };
        configure?.Invoke(Options);
        Runtime = new NativeRuntime(Microsoft.Extensions.Options.Options.Create(Options), TimeProvider.System, NullLogger<NativeRuntime>.Instance);
        System.IO.Directory.CreateDirectory(Directory.Workspace);
    }

    public NativeRuntimeOptions Options { get; }

    public NativeRuntime Runtime { get; }

    public FakeModelServer Server { get; } = new();

    public TempDirectory Directory { get; } = new();

    public RecordingSink Events { get; } = new();

    public string Workspace => Directory.Workspace;

    /// <summary>Settings for the OpenAI-compatible fake; <paramref name="extra"/> adds or overrides fields.</summary>
    public Dictionary<string, object?> OpenAi(params (string Field, object? Value)[] extra) =>
        Settings("openai", Server.OpenAiBaseUrl.AbsoluteUri, extra);

    public Dictionary<string, object?> Anthropic(params (string Field, object? Value)[] extra) =>
        Settings("anthropic", Server.BaseUrl.AbsoluteUri, extra);

    public Task<AgentOutcome> RunAsync(object settings, string input, int attempt = 1, AgentCheckpoint? resumeFrom = null, CancellationToken? cancellationToken = null)
    {
        var invocation = new AgentInvocation(
            Guid.NewGuid(),
            attempt,
            input,
            new AgentSpec { Name = "native-test", Runtime = RuntimeNames.Native, Settings = JsonSerializer.SerializeToElement(settings) },
            Workspace,
            resumeFrom);
        return Runtime.RunAsync(invocation, Events, cancellationToken ?? TestContext.Current.CancellationToken)
            .WaitAsync(TestData.Guard, TestContext.Current.CancellationToken);
    }

    public void Dispose()
    {
        Runtime.Dispose();
        Server.Dispose();
        Directory.Dispose();
    }

    private static Dictionary<string, object?> Settings(string provider, string baseUrl, (string Field, object? Value)[] extra)
    {
        var settings = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["provider"] = provider,
            ["baseUrl"] = baseUrl,
            ["model"] = "fake-model",
            ["apiKey"] = Key,
            ["systemPrompt"] = "You are a careful test agent.",
        };
        foreach (var (field, value) in extra)
        {
            settings[field] = value;
        }

        return settings;
    }
}
