using System.Text.Json;

using Workers.Agents.Runtimes;
using Workers.Contracts;

// Usage: Workers.Agents.TestHost <agent command> <workspace>. Runs the agent with the process runtime, as a worker would,
// and prints its outcome; the tests kill this process to check that its agents do not outlive it.
if (args.Length != 2)
{
    Console.Error.WriteLine("usage: Workers.Agents.TestHost <agent command> <workspace>");
    return 2;
}

var invocation = new AgentInvocation(
    Guid.NewGuid(),
    1,
    "",
    new AgentSpec { Name = "test-host-agent", Runtime = RuntimeNames.Process, Settings = JsonSerializer.SerializeToElement(new { command = args[0] }) },
    args[1]);
var outcome = await new ProcessRuntime().RunAsync(invocation, new DiscardingSink(), CancellationToken.None);
Console.WriteLine(outcome);
return 0;

internal sealed class DiscardingSink : IAgentEventSink
{
    public void Emit(AgentEvent agentEvent)
    {
    }
}
