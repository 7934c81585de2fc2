using System.Diagnostics;

namespace Workers.Agents.Runtimes;

/// <summary>
/// An agent's process as the runtimes see it: its pipes, its exit, the process group it leads. Started from a
/// <see cref="ProcessStartInfo"/> that names the agent itself (resolved path, arguments, environment, working directory).
/// <para>
/// On Linux it is spawned directly (<see cref="SpawnedAgentProcess"/>): posix_spawn(3) makes it the leader of a new session
/// and process group, with every signal at its default and none blocked, in one exec. Elsewhere, or where the C library lacks
/// what that needs, <see cref="System.Diagnostics.Process"/> starts it with setsid(1) in front (<see cref="ManagedAgentProcess"/>),
/// one exec more. Either way it is marked as this worker's, so the worker's reaper kills it if the worker dies
/// (<see cref="AgentSupervisor"/>).
/// </para>
/// </summary>
internal abstract class AgentProcess : IDisposable
{
    /// <summary>Starts the agent <paramref name="startInfo"/> describes. Throws <see cref="System.ComponentModel.Win32Exception"/> when it cannot be executed.</summary>
    public static AgentProcess Start(ProcessStartInfo startInfo)
    {
        ArgumentNullException.ThrowIfNull(startInfo);
        AgentSupervisor.Mark(startInfo);
        return SpawnedAgentProcess.Supported && Path.IsPathFullyQualified(startInfo.FileName)
            ? SpawnedAgentProcess.Start(startInfo)
            : ManagedAgentProcess.Start(startInfo);
    }

    public abstract int Id { get; }

    /// <summary>The process group the agent leads (its pid), or null where it shares the worker's.</summary>
    public abstract int? GroupId { get; }

    /// <summary>
    /// True when an exec failure shows only as setsid(1)'s exit code and message (<see cref="AgentSupervisor.ExecFailure"/>);
    /// a spawned agent that cannot be executed is reported by <see cref="Start"/> instead.
    /// </summary>
    public abstract bool ExecFailureOnStderr { get; }

    public abstract StreamWriter StandardInput { get; }

    public abstract StreamReader StandardOutput { get; }

    public abstract StreamReader StandardError { get; }

    public abstract bool HasExited { get; }

    /// <summary>The exit code; 128 + the signal number for one killed by a signal. Valid once it has exited.</summary>
    public abstract int ExitCode { get; }

    public abstract Task WaitForExitAsync(CancellationToken cancellationToken = default);

    /// <summary>SIGKILL to the agent and every process descending from it; nothing once it has exited.</summary>
    public abstract void KillTree();

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected abstract void Dispose(bool disposing);
}

/// <summary>An agent started by <see cref="System.Diagnostics.Process"/>, behind setsid(1) where it exists.</summary>
internal sealed class ManagedAgentProcess : AgentProcess
{
    private readonly System.Diagnostics.Process _process;

    private ManagedAgentProcess(System.Diagnostics.Process process, bool leadsGroup)
    {
        _process = process;
        GroupId = leadsGroup ? process.Id : null;
        ExecFailureOnStderr = leadsGroup;
    }

    public static new ManagedAgentProcess Start(ProcessStartInfo startInfo)
    {
        var leadsGroup = AgentSupervisor.PrefixLauncher(startInfo);
        var process = new System.Diagnostics.Process { StartInfo = startInfo };
        try
        {
            process.Start();
            return new ManagedAgentProcess(process, leadsGroup);
        }
        catch
        {
            process.Dispose();
            throw;
        }
    }

    public override int Id => _process.Id;

    public override int? GroupId { get; }

    public override bool ExecFailureOnStderr { get; }

    public override StreamWriter StandardInput => _process.StandardInput;

    public override StreamReader StandardOutput => _process.StandardOutput;

    public override StreamReader StandardError => _process.StandardError;

    public override bool HasExited => _process.HasExited;

    public override int ExitCode => _process.ExitCode;

    public override Task WaitForExitAsync(CancellationToken cancellationToken = default) => _process.WaitForExitAsync(cancellationToken);

    public override void KillTree() => ProcessStopper.KillTree(_process);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _process.Dispose();
        }
    }
}
