using System.Text.Json;

using Workers.Agents.Runtimes;
using Workers.Agents.Runtimes.Cli;
using Workers.Contracts;

namespace Workers.Agents.Tests.Cli;

/// <summary>
/// A temporary PATH with fake agent CLIs (bash scripts) and a temporary HOME, seen by a runtime through its injected
/// environment. Scripts dump their argv (NUL-separated) to <c>argv.bin</c> in their working directory.
/// </summary>
internal sealed class FakeCli : IDisposable
{
    /// <summary>Writes the script's arguments and working directory into the workspace, for assertions.</summary>
    public const string DumpArgs = """
        printf '%s\0' "$@" > argv.bin
        pwd > cwd.txt
        """;

    private readonly TempDirectory _directory = new();

    public FakeCli()
    {
        Directory.CreateDirectory(Bin);
        Directory.CreateDirectory(Home);
        Variables["PATH"] = Bin;
        Variables["HOME"] = Home;
    }

    public string Bin => Path.Combine(_directory.Path, "bin");

    public string Home => Path.Combine(_directory.Path, "home");

    public string Workspace => _directory.Workspace;

    public Dictionary<string, string> Variables { get; } = new(StringComparer.Ordinal);

    public CliEnvironment Environment => new(name => Variables.GetValueOrDefault(name));

    public RecordingSink Events { get; } = new();

    /// <summary>Grace periods short enough for tests, long enough for a trap to run.</summary>
    public CliRuntimeOptions Options { get; } = new()
    {
        InterruptGracePeriod = TimeSpan.FromSeconds(2),
        TerminationGracePeriod = TimeSpan.FromSeconds(2),
    };

    /// <summary>Installs <paramref name="name"/> on the fake PATH; the body runs under bash after the argv dump.</summary>
    public string Install(string name, string body) =>
        _directory.WriteScript(Path.Combine("bin", name), DumpArgs + "\n" + body);

    public string WriteFile(string relativePath, string content) => _directory.WriteFile(relativePath, content);

    /// <summary>The arguments the fake CLI received.</summary>
    public string[] Argv()
    {
        var text = File.ReadAllText(Path.Combine(Workspace, "argv.bin"));
        return text.Length == 0 ? [] : text[..^1].Split('\0');
    }

    public string WorkingDirectory() => File.ReadAllText(Path.Combine(Workspace, "cwd.txt")).TrimEnd('\n');

    public AgentInvocation Invocation(string runtime, object? settings = null, string input = "Fix the failing test") =>
        new(
            Guid.NewGuid(),
            1,
            input,
            new AgentSpec { Name = "cli-agent", Runtime = runtime, Settings = JsonSerializer.SerializeToElement(settings ?? new { }) },
            Workspace);

    public Task<AgentOutcome> RunAsync(IAgentRuntime runtime, object? settings = null, string input = "Fix the failing test") =>
        RunCancellableAsync(runtime, TestContext.Current.CancellationToken, settings, input);

    public Task<AgentOutcome> RunCancellableAsync(IAgentRuntime runtime, CancellationToken cancellationToken, object? settings = null, string input = "Fix the failing test") =>
        runtime.RunAsync(Invocation(runtime.Name, settings, input), Events, cancellationToken)
            .WaitAsync(TestData.Guard, TestContext.Current.CancellationToken);

    public void Dispose() => _directory.Dispose();
}
