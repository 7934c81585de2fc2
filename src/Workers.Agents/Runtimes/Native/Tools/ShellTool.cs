using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

using Workers.Agents.Runtimes.Native.Providers;

namespace Workers.Agents.Runtimes.Native.Tools;

/// <summary>
/// Runs a command with <c>/bin/bash -c</c> in the workspace. The environment is built from scratch (PATH, HOME set to the
/// workspace, LANG, TMPDIR): none of the worker's variables, so no API key or connection string reaches the command. The
/// command's process group, with anything it left in the background, is killed when it ends, times out or is cancelled.
/// Output (stdout and stderr interleaved) is capped.
/// </summary>
internal sealed class ShellTool(WorkspaceSandbox sandbox, TimeSpan timeout, int maxOutputLength) : IAgentTool
{
    private const string SafePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    private const string Bash = "/bin/bash";

    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);

    public ToolDefinition Definition { get; } = new(
        BuiltInTools.RunCommand,
        "Runs a bash command in the workspace directory and returns its exit code and output (stdout and stderr). "
            + "Optional 'timeout_seconds' (default and maximum set by the worker).",
        ToolArguments.Schema([("command", "string", "the bash command line"), ("timeout_seconds", "integer", "seconds before the command is killed")], "command"));

    public async Task<ToolOutput> InvokeAsync(JsonElement arguments, CancellationToken cancellationToken)
    {
        var command = ToolArguments.RequiredString(arguments, "command");
        var limit = ToolArguments.OptionalInt(arguments, "timeout_seconds") is { } seconds && seconds > 0 && TimeSpan.FromSeconds(seconds) < timeout
            ? TimeSpan.FromSeconds(seconds)
            : timeout;

        // setsid makes bash lead a process group of its own, so background children it leaves behind are killed with it.
        var start = new ProcessStartInfo(AgentSupervisor.Setsid ?? Bash)
        {
            WorkingDirectory = sandbox.Root,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        if (AgentSupervisor.Setsid is not null)
        {
            start.ArgumentList.Add(Bash);
        }

        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        start.Environment.Clear();
        start.Environment["PATH"] = SafePath;
        start.Environment["HOME"] = sandbox.Root;
        start.Environment["LANG"] = "C.UTF-8";
        start.Environment["TMPDIR"] = sandbox.Root;

        using var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.Exited += (_, _) => exited.TrySetResult();
        var output = new CappedText(maxOutputLength);
        process.OutputDataReceived += (_, e) => output.AppendLine(e.Data);
        process.ErrorDataReceived += (_, e) => output.AppendLine(e.Data);
        // Marked as this worker's like any agent process, so it dies with the worker.
        AgentSupervisor.Start(process);
        var group = AgentSupervisor.Setsid is not null ? ProcessStopper.SafeId(process) : -1;
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var timedOut = false;
        try
        {
            // The exit, not the end of the pipes: a background child may hold them open until it is killed below.
            await exited.Task.WaitAsync(limit, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            timedOut = true;
        }
        finally
        {
            Stop(process, group);
        }

        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(DrainTimeout, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A grandchild in another group still holds the pipes; keep what was read.
        }

        return timedOut
            ? new ToolOutput(string.Create(CultureInfo.InvariantCulture, $"The command was killed after {limit.TotalSeconds:0.#} seconds (timeout).\n{output}"), IsError: true)
            : new ToolOutput(string.Create(CultureInfo.InvariantCulture, $"Exit code {process.ExitCode}.\n{output}"), IsError: process.ExitCode != 0);
    }

    /// <summary>Kills the command's process group (what it left running in the background) and its tree.</summary>
    private static void Stop(Process process, int group)
    {
        if (group > 0)
        {
            ProcessTree.SignalGroup(group, ProcessTree.SigKill);
        }

        ProcessStopper.KillTree(process);
    }

    /// <summary>Collects output lines up to a length; later lines are counted, not kept.</summary>
    private sealed class CappedText(int capacity)
    {
        private readonly StringBuilder _text = new();
        private long _dropped;

        public void AppendLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_text)
            {
                if (_text.Length + line.Length + 1 <= capacity)
                {
                    _text.Append(line).Append('\n');
                }
                else
                {
                    _dropped += line.Length + 1;
                }
            }
        }

        public override string ToString()
        {
            lock (_text)
            {
                return _dropped == 0
                    ? _text.ToString()
                    : _text.ToString() + string.Create(CultureInfo.InvariantCulture, $"[output cut: {_dropped} more characters were dropped]");
            }
        }
    }
}
