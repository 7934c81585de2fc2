using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;

using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

// The namespace is Workers.Agents.Runtimes, not ...Runtimes.Process: a namespace named Process would hide
// System.Diagnostics.Process from every sibling runtime's code.
#pragma warning disable IDE0130
namespace Workers.Agents.Runtimes;
#pragma warning restore IDE0130

/// <summary>
/// The <c>process</c> runtime: bring your own agent. Runs the executable an agent definition names, in the attempt's
/// workspace, with the task on stdin, and reads the JSONL protocol described in <c>docs/process-protocol.md</c> from stdout.
/// </summary>
/// <remarks>
/// Settings (the definition's <c>process:</c> section): <c>command</c> (required), <c>args</c> (list), <c>env</c> (mapping),
/// <c>baseDirectory</c> (added by the catalog; relative commands resolve against it). The child gets the worker's environment,
/// then <c>env</c>, then <c>WORKERS_RUN_ID</c>, <c>WORKERS_ATTEMPT</c>, <c>WORKERS_WORKSPACE</c>, <c>WORKERS_AGENT</c> and
/// (when known) <c>WORKERS_AGENT_DIR</c>.
/// On Linux the agent leads its own process group. Cancelling sends SIGTERM to the group (and the process tree), waits up to
/// <see cref="ProcessRuntimeOptions.TerminationGracePeriod"/>, then kills what is left; processes still running when the
/// agent exits are stopped the same way, so an attempt leaves nothing behind.
/// </remarks>
public sealed partial class ProcessRuntime : IAgentRuntime
{
    /// <summary>Failure kind: the command is missing or cannot be started.</summary>
    public const string PrerequisiteFailure = "prerequisite";

    /// <summary>Failure kind: the agent's <c>process:</c> settings are unusable (an inline spec; the catalog rejects bad files).</summary>
    public const string InvalidSettingsFailure = "invalid-settings";

    /// <summary>Failure kind: the attempt's workspace directory could not be created on this worker.</summary>
    public const string WorkspaceFailure = "workspace";

    /// <summary>Failure kind: the agent reported an <c>error</c> event.</summary>
    public const string AgentErrorFailure = "agent-error";

    /// <summary>Failure kind: the process exited with a non-zero code and reported no error.</summary>
    public const string ExitCodeFailure = "exit-code";

    /// <summary>Lines longer than this are cut; a cut JSON line no longer parses and counts as plain output.</summary>
    internal const int MaxLineLength = 4 * 1024 * 1024;

    private const int StderrTailLines = 20;

    /// <summary>How long to keep reading after the process exits: a background child may still hold the pipes open.</summary>
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>
    /// Bytes a new pipe always takes without a reader: one page. Linux gives a pipe 64 KiB, but only one page once the user
    /// holds more pipe pages than <c>pipe-user-pages-soft</c> (a worker with a thousand agents at once can).
    /// </summary>
    private const int PipeBufferEveryPipeHas = 4096;

    // Set once the missing-setsid/grep warning has been logged: once per worker process is enough.
    private static int s_warnedUnsupervised;

    private readonly ProcessRuntimeOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Creates the runtime with default options, the system clock and no logging.</summary>
    public ProcessRuntime()
        : this(Options.Create(new ProcessRuntimeOptions()), TimeProvider.System, NullLogger<ProcessRuntime>.Instance)
    {
    }

    public ProcessRuntime(IOptions<ProcessRuntimeOptions> options, TimeProvider timeProvider, ILogger<ProcessRuntime> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        _options = options.Value;
        _time = timeProvider;
        _logger = logger;
        if (OperatingSystem.IsLinux() && !AgentSupervisor.Available && Interlocked.Exchange(ref s_warnedUnsupervised, 1) == 0)
        {
            LogUnsupervised(_logger, AgentSupervisor.Setsid ?? "missing", AgentSupervisor.Grep ?? "missing");
        }
    }

    public string Name => RuntimeNames.Process;

    /// <summary>Always satisfied: the runtime needs nothing global; each agent's command is checked when it runs.</summary>
    public ValueTask<PrerequisiteCheck> CheckPrerequisitesAsync(CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(PrerequisiteCheck.Ok);

    public async Task<AgentOutcome> RunAsync(AgentInvocation invocation, IAgentEventSink events, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        ArgumentNullException.ThrowIfNull(events);
        if (cancellationToken.IsCancellationRequested)
        {
            return new AgentOutcome.Cancelled();
        }

        var agent = invocation.Agent.Name;
        var problems = new List<SettingsProblem>();
        if (ProcessSettings.Parse(invocation.Agent.Settings, problems) is not { } settings)
        {
            return SettingsValues.Invalid(agent, "process", problems, InvalidSettingsFailure);
        }

        var searchPath = settings.Env.TryGetValue("PATH", out var path) ? path : Environment.GetEnvironmentVariable("PATH");
        if (!CommandResolver.TryResolve(settings.Command, settings.BaseDirectory, searchPath, out var executable, out var problem))
        {
            return new AgentOutcome.Failed(
                $"Agent '{agent}' cannot run: {problem}. Check 'command' in the agent's process settings.", PrerequisiteFailure, Retryable: false);
        }

        try
        {
            Directory.CreateDirectory(invocation.WorkspaceDirectory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // The worker's disk, not the agent: another worker (or a later attempt) may well succeed.
            return new AgentOutcome.Failed(
                $"Agent '{agent}' cannot run: its workspace {invocation.WorkspaceDirectory} could not be created: {ex.Message}", WorkspaceFailure, Retryable: true);
        }

        AgentProcess process;
        try
        {
            // Marked as this worker's, so the worker's reaper kills it (and its descendants) if the worker dies.
            process = AgentProcess.Start(CreateStartInfo(invocation, settings, executable));
        }
        catch (Win32Exception ex)
        {
            return CannotStart(invocation, executable, ex.Message);
        }

        using var _ = process;

        var started = _time.GetTimestamp();
        LogStarted(_logger, invocation.RunId, agent, process.Id, executable);
        try
        {
            return await SuperviseAsync(process, executable, invocation, events, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Reached with the process still running only if supervision itself failed: never leave an agent behind.
            process.KillTree();
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                var elapsed = _time.GetElapsedTime(started);
                LogFinished(_logger, invocation.RunId, agent, elapsed.TotalMilliseconds);
            }
        }
    }

    private async Task<AgentOutcome> SuperviseAsync(AgentProcess process, string executable, AgentInvocation invocation, IAgentEventSink events, CancellationToken cancellationToken)
    {
        var agent = invocation.Agent.Name;
        var sink = new GuardedEventSink(events, ex => LogSinkFailed(_logger, ex, invocation.RunId, agent));
        var protocol = new ProcessProtocol(sink, _options.MaxOutputLength);
        var stderr = new StderrTail(sink, StderrTailLines);

        // stdout and stderr are drained concurrently and stdin is written on its own, so neither side can block the
        // other on a full pipe.
        var pumps = Task.WhenAll(
            ProcessStopper.PumpAsync(process.StandardOutput, MaxLineLength, protocol.Accept),
            ProcessStopper.PumpAsync(process.StandardError, MaxLineLength, stderr.Accept));
        var input = WriteInputAsync(process, invocation.Input);

        var cancelled = await ProcessStopper.WaitOrStopAsync(process, TimeSpan.Zero, _options.TerminationGracePeriod, _time,
            leftovers => LogStoppingLeftovers(_logger, invocation.RunId, agent, leftovers),
            () => LogCancelling(_logger, invocation.RunId, agent, process.Id),
            cancellationToken, invocation.Abort).ConfigureAwait(false);

        try
        {
            await Task.WhenAll(pumps, input).WaitAsync(DrainTimeout, _time, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogDrainTimedOut(_logger, invocation.RunId, agent, DrainTimeout.TotalSeconds);
        }

        var output = protocol.Output;
        if (cancelled)
        {
            return new AgentOutcome.Cancelled(output.Length == 0 ? null : output);
        }

        if (protocol.Error is { } error)
        {
            return new AgentOutcome.Failed(error.Message, AgentErrorFailure, error.Retryable, output);
        }

        var exitCode = process.ExitCode;
        if (exitCode == 0)
        {
            return new AgentOutcome.Succeeded(output);
        }

        var stderrTail = stderr.ToString();
        if (process.ExecFailureOnStderr && AgentSupervisor.ExecFailure(exitCode, stderrTail, executable) is { } reason)
        {
            return CannotStart(invocation, executable, reason);
        }

        return new AgentOutcome.Failed(DescribeExit(agent, exitCode, stderrTail), ExitCodeFailure, Retryable: true, output);
    }

    private static AgentOutcome.Failed CannotStart(AgentInvocation invocation, string executable, string reason)
    {
        var settings = ProcessSettings.Parse(invocation.Agent.Settings, []);
        return new AgentOutcome.Failed(
            $"Agent '{invocation.Agent.Name}' cannot run: command '{settings?.Command}' ({executable}) could not be started: {reason.TrimEnd('.', '\n')}. If it is a script, check its #! line.",
            PrerequisiteFailure,
            Retryable: false);
    }

    private static ProcessStartInfo CreateStartInfo(AgentInvocation invocation, ProcessSettings settings, string executable)
    {
        // The agent itself; AgentProcess decides how it comes to lead a process group of its own.
        var startInfo = new ProcessStartInfo(executable);
        startInfo.WorkingDirectory = invocation.WorkspaceDirectory;
        startInfo.UseShellExecute = false;
        startInfo.RedirectStandardInput = true;
        startInfo.RedirectStandardOutput = true;
        startInfo.RedirectStandardError = true;
        startInfo.StandardInputEncoding = Utf8;
        startInfo.StandardOutputEncoding = Utf8;
        startInfo.StandardErrorEncoding = Utf8;

        foreach (var argument in settings.Args)
        {
            startInfo.ArgumentList.Add(argument);
        }

        // Order matters: the worker's environment (already in startInfo), then the definition's env, then the protocol's own variables.
        foreach (var (name, value) in settings.Env)
        {
            startInfo.Environment[name] = value;
        }

        startInfo.Environment["WORKERS_RUN_ID"] = invocation.RunId.ToString("D");
        startInfo.Environment["WORKERS_ATTEMPT"] = invocation.Attempt.ToString(CultureInfo.InvariantCulture);
        startInfo.Environment["WORKERS_WORKSPACE"] = invocation.WorkspaceDirectory;
        startInfo.Environment["WORKERS_AGENT"] = invocation.Agent.Name;
        if (settings.BaseDirectory is not null)
        {
            startInfo.Environment["WORKERS_AGENT_DIR"] = settings.BaseDirectory;
        }

        return startInfo;
    }

    private static async Task WriteInputAsync(AgentProcess process, string input)
    {
        var stdin = process.StandardInput;
        try
        {
            // An agent that has already exited (a quick one, on a busy worker) would only make the write fail with a broken
            // pipe: an exception per run for nothing.
            if (input.Length > 0 && !process.HasExited)
            {
                if (Utf8.GetMaxByteCount(input.Length) <= PipeBufferEveryPipeHas)
                {
                    // Fits in the empty pipe whatever the agent does, so the write cannot block: written here, without
                    // the hop to the thread pool an asynchronous pipe write costs.
                    stdin.Write(input);
                    stdin.Flush();
                }
                else
                {
                    await stdin.WriteAsync(input.AsMemory(), CancellationToken.None).ConfigureAwait(false);
                    await stdin.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The agent exited or closed stdin without reading it all: its choice, not an error.
        }
        finally
        {
            try
            {
                stdin.Dispose();
            }
            catch (IOException)
            {
                // Flushing on close hits the same closed pipe.
            }
        }
    }

    private static string DescribeExit(string agent, int exitCode, string stderrTail)
    {
        var message = new StringBuilder();
        message.Append(CultureInfo.InvariantCulture, $"Agent '{agent}' exited with code {exitCode}");

        // .NET reports a process killed by a signal as 128 + the signal number.
        if (!OperatingSystem.IsWindows() && exitCode is > 128 and < 128 + 65)
        {
            message.Append(CultureInfo.InvariantCulture, $" (killed by signal {exitCode - 128})");
        }

        message.Append(" without reporting an error.");
        message.Append(stderrTail.Length == 0 ? " It wrote nothing to stderr." : $" Last lines of stderr:\n{stderrTail}");
        return message.ToString();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Run {RunId}: agent {Agent} started as process {ProcessId} ({Executable})")]
    private static partial void LogStarted(ILogger logger, Guid runId, string agent, int processId, string executable);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Run {RunId}: agent {Agent} finished after {ElapsedMs:0} ms")]
    private static partial void LogFinished(ILogger logger, Guid runId, string agent, double elapsedMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId}: cancelled; stopping agent {Agent} (process {ProcessId} and its children)")]
    private static partial void LogCancelling(ILogger logger, Guid runId, string agent, int processId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId}: agent {Agent} exited and left processes running in its process group {ProcessGroup}; stopping them")]
    private static partial void LogStoppingLeftovers(ILogger logger, Guid runId, string agent, int processGroup);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Run {RunId}: agent {Agent} exited but its output was still open after {Seconds} s (a background process holds it?); stopped reading")]
    private static partial void LogDrainTimedOut(ILogger logger, Guid runId, string agent, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "setsid(1) (util-linux) or grep(1) not found (setsid: {Setsid}, grep: {Grep}): process agents will NOT be killed if this worker dies abruptly; install util-linux and grep")]
    private static partial void LogUnsupervised(ILogger logger, string setsid, string grep);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Run {RunId}: the event sink failed for agent {Agent}; later events may be missing")]
    private static partial void LogSinkFailed(ILogger logger, Exception exception, Guid runId, string agent);
}
