using System.Text.Json;

using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

using Workers.Agents.Runtimes;
using Workers.Agents.Runtimes.Cli;
using Workers.Contracts;

// Usage: Workers.Agents.TestHost <agent command> <workspace> [runtime|managed]. Runs the agent with the process runtime (or, when
// runtime is claude-code, the command as a fake Claude Code CLI), as a worker would, and prints its outcome; the tests kill
// this process to check that its agents do not outlive it. With managed, it starts the command through the fallback launcher
// (System.Diagnostics.Process behind setsid, the way a worker does where it cannot spawn directly) and prints its output.
const string Managed = "managed";
if (args.Length is not (2 or 3) || (args.Length == 3 && args[2] is not (RuntimeNames.Process or RuntimeNames.ClaudeCode or Managed)))
{
    Console.Error.WriteLine($"usage: Workers.Agents.TestHost <agent command> <workspace> [{RuntimeNames.Process}|{RuntimeNames.ClaudeCode}|{Managed}]");
    return 2;
}

if (args.Length == 3 && args[2] == Managed)
{
    Directory.CreateDirectory(args[1]);
    var startInfo = new System.Diagnostics.ProcessStartInfo(args[0])
    {
        UseShellExecute = false,
        RedirectStandardInput = true,
        RedirectStandardOutput = true,
        RedirectStandardError = true,
        WorkingDirectory = args[1],
    };
    using var agent = ManagedAgentProcess.Start(startInfo);
    agent.StandardInput.Close();
    Console.Write(await agent.StandardOutput.ReadToEndAsync());
    Console.Error.Write(await agent.StandardError.ReadToEndAsync());
    await agent.WaitForExitAsync();
    Console.WriteLine($"host {Environment.ProcessId}");
    return 0;
}

var runtimeName = args.Length == 3 ? args[2] : RuntimeNames.Process;
IAgentRuntime runtime = runtimeName == RuntimeNames.ClaudeCode
    ? new ClaudeCodeRuntime(new FixedOptions(new CliRuntimeOptions()), TimeProvider.System, NullLogger<ClaudeCodeRuntime>.Instance)
    : new ProcessRuntime();
var invocation = new AgentInvocation(
    Guid.NewGuid(),
    1,
    "Run the test host's task",
    new AgentSpec { Name = "test-host-agent", Runtime = runtimeName, Settings = JsonSerializer.SerializeToElement(new { command = args[0] }) },
    args[1]);
var outcome = await runtime.RunAsync(invocation, new DiscardingSink(), CancellationToken.None);
Console.WriteLine(outcome);
return 0;

internal sealed class DiscardingSink : IAgentEventSink
{
    public void Emit(AgentEvent agentEvent)
    {
    }
}

internal sealed class FixedOptions(CliRuntimeOptions options) : IOptionsMonitor<CliRuntimeOptions>
{
    public CliRuntimeOptions CurrentValue => options;

    public CliRuntimeOptions Get(string? name) => options;

    public IDisposable? OnChange(Action<CliRuntimeOptions, string?> listener) => null;
}
