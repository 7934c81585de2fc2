using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;

using Microsoft.Extensions.Logging;

namespace Workers.Agents.Runtimes.Cli;

/// <summary>
/// Runs an external agent CLI (Claude Code, Codex, Gemini, Cursor) non-interactively in the attempt's workspace, turns its
/// JSON event stream into <see cref="AgentEvent"/>s and its final result and exit code into an <see cref="AgentOutcome"/>.
/// </summary>
/// <remarks>
/// Process handling follows the <c>process</c> runtime: on Linux the CLI is started through the same launch chain
/// (<see cref="AgentSupervisor"/>), so it leads its own process group and dies with
/// its descendants if the worker dies; stdout and stderr are drained concurrently, and nothing is left running when an attempt
/// ends. Cancelling sends the CLI SIGINT (its graceful interrupt), then after
/// <see cref="CliRuntimeOptions.InterruptGracePeriod"/> SIGTERM to its group and tree, then after
/// <see cref="CliRuntimeOptions.TerminationGracePeriod"/> SIGKILL; elsewhere the tree is killed at once.
/// </remarks>
public abstract partial class CliRuntime : IAgentRuntime
{

    private const int StderrTailLines = 20;

    /// <summary>Lines longer than this are cut (a cut JSON line no longer parses and is skipped as noise).</summary>
    private const int MaxLineLength = 4 * 1024 * 1024;

    /// <summary>Linux's limit on one argument (MAX_ARG_STRLEN, 32 pages), terminating NUL included.</summary>
    private const int MaxArgumentBytes = 128 * 1024;

    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    // Set once the missing-setsid/grep warning has been logged: once per worker process is enough.
    private static int s_warnedUnsupervised;

    private readonly CliDialect _dialect;
    private readonly CliRuntimeOptions _options;
    private readonly CliEnvironment _environment;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    private protected CliRuntime(CliDialect dialect, CliRuntimeOptions options, CliEnvironment environment, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _dialect = dialect;
        _options = options;
        _environment = environment;
        _time = time;
        _logger = logger;
        if (OperatingSystem.IsLinux() && !AgentSupervisor.Available && Interlocked.Exchange(ref s_warnedUnsupervised, 1) == 0)
        {
            LogUnsupervised(_logger, AgentSupervisor.Setsid ?? "missing", AgentSupervisor.Grep ?? "missing");
        }
    }

    public string Name => _dialect.Runtime;

    /// <summary>The CLI is installed (on PATH, in <c>~/.local/bin</c>, or where configured) and has credentials.</summary>
    public async ValueTask<PrerequisiteCheck> CheckPrerequisitesAsync(CancellationToken cancellationToken = default)
    {
        if (!TryResolve(null, null, out var executable, out var problem))
        {
            return PrerequisiteCheck.Missing(problem, _dialect.InstallUrl);
        }

        var credentials = await _dialect.FindCredentialsProblemAsync(_environment, executable, ProbeAsync, cancellationToken).ConfigureAwait(false);
        return credentials is null
            ? PrerequisiteCheck.Ok
            : PrerequisiteCheck.Missing($"The {_dialect.Runtime} runtime has no {_dialect.DisplayName} credentials: {credentials}", _dialect.AuthUrl);
    }

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
        if (_dialect.ParseSettings(invocation.Agent.Settings, problems) is not { } settings)
        {
            return SettingsValues.Invalid(agent, _dialect.Runtime, problems, CliFailureKinds.InvalidSettings);
        }

        var searchPath = settings.Env.TryGetValue("PATH", out var path) ? path : _environment.SearchPath;
        if (!TryResolve(settings, searchPath, out var executable, out var problem))
        {
            return new AgentOutcome.Failed($"Agent '{agent}' cannot run: {problem}", CliFailureKinds.Prerequisite, Retryable: false);
        }

        var arguments = _dialect.BuildArguments(settings, invocation);
        if (arguments.FirstOrDefault(a => Utf8.GetByteCount(a) >= MaxArgumentBytes) is not null)
        {
            return new AgentOutcome.Failed(
                string.Create(CultureInfo.InvariantCulture, $"Agent '{agent}' cannot run: the {_dialect.DisplayName} CLI takes the task as a command-line argument, and one argument is limited to {MaxArgumentBytes / 1024} KiB; shorten the task or pass a file for the agent to read."),
                CliFailureKinds.InputTooLarge,
                Retryable: false);
        }

        try
        {
            Directory.CreateDirectory(invocation.WorkspaceDirectory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return new AgentOutcome.Failed(
                $"Agent '{agent}' cannot run: its workspace {invocation.WorkspaceDirectory} could not be created: {ex.Message}", CliFailureKinds.Workspace, Retryable: true);
        }

        AgentProcess process;
        try
        {
            // Marked as this worker's, so the worker's reaper kills it (and its descendants) if the worker dies.
            process = AgentProcess.Start(CreateStartInfo(invocation, settings, executable, arguments));
        }
        catch (Win32Exception ex)
        {
            return new AgentOutcome.Failed(
                $"Agent '{agent}' cannot run: {_dialect.DisplayName} CLI {executable} could not be started: {ex.Message}", CliFailureKinds.Prerequisite, Retryable: false);
        }

        using var _ = process;
        LogStarted(_logger, invocation.RunId, agent, _dialect.Runtime, process.Id, executable);
        try
        {
            return await SuperviseAsync(process, invocation, events, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            process.KillTree();
        }
    }

    private async Task<AgentOutcome> SuperviseAsync(AgentProcess process, AgentInvocation invocation, IAgentEventSink events, CancellationToken cancellationToken)
    {
        var agent = invocation.Agent.Name;
        var sink = new GuardedEventSink(events, ex => LogSinkFailed(_logger, ex, invocation.RunId, agent));
        var stream = _dialect.CreateStream(sink);
        var stderr = new StderrTail(sink, StderrTailLines);

        // Every CLI gets the task as an argument; its stdin is closed at once so none waits for (or appends) piped input.
        process.StandardInput.Close();
        var pumps = Task.WhenAll(ProcessStopper.PumpAsync(process.StandardOutput, MaxLineLength, stream.Accept), ProcessStopper.PumpAsync(process.StandardError, MaxLineLength, stderr.Accept));

        var cancelled = await ProcessStopper.WaitOrStopAsync(process, _options.InterruptGracePeriod, _options.TerminationGracePeriod, _time,
            leftovers => LogStoppingLeftovers(_logger, invocation.RunId, agent, leftovers),
            () => LogCancelling(_logger, invocation.RunId, agent, process.Id),
            cancellationToken, invocation.Abort).ConfigureAwait(false);

        try
        {
            await pumps.WaitAsync(DrainTimeout, _time, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogDrainTimedOut(_logger, invocation.RunId, agent, DrainTimeout.TotalSeconds);
        }

        stream.Complete();
        var terminal = stream.Terminal;
        if (cancelled)
        {
            // Whatever the CLI printed or exited with after our interrupt, the attempt was stopped on request.
            var partial = terminal?.Output is { Length: > 0 } result ? result : stream.PartialOutput;
            return new AgentOutcome.Cancelled(partial.Length == 0 ? null : Cap(partial));
        }

        return Decide(agent, terminal, stream.PartialOutput, process.ExitCode, stderr.ToString());
    }

    /// <summary>The final result decides first, the exit code second; no result at all is a failure with the stderr tail.</summary>
    private AgentOutcome Decide(string agent, CliTerminal? terminal, string partialOutput, int exitCode, string stderrTail)
    {
        var cli = _dialect.DisplayName;
        var stderrNote = stderrTail.Length == 0 ? " It wrote nothing to stderr." : $" Last lines of stderr:\n{stderrTail}";
        if (terminal is { Succeeded: true })
        {
            return exitCode == 0
                ? new AgentOutcome.Succeeded(Cap(terminal.Output))
                : new AgentOutcome.Failed(
                    $"Agent '{agent}': {cli} reported a result but exited with code {exitCode}{SignalNote(exitCode)}.{stderrNote}",
                    CliFailureKinds.ExitCode,
                    Retryable: true,
                    Cap(terminal.Output));
        }

        if (terminal is { } failure)
        {
            var output = failure.Output.Length > 0 ? failure.Output : partialOutput;
            return new AgentOutcome.Failed($"Agent '{agent}': {failure.Error}", failure.Kind, failure.Retryable, Cap(output));
        }

        if (exitCode != 0)
        {
            var described = _dialect.DescribeExitCode(exitCode);
            var error = described?.Error ?? $"{cli} exited with code {exitCode}{SignalNote(exitCode)} without a result.";
            return new AgentOutcome.Failed(
                $"Agent '{agent}': {error}{stderrNote}",
                described?.Kind ?? CliFailureKinds.ExitCode,
                described?.Retryable ?? true,
                Cap(partialOutput));
        }

        return new AgentOutcome.Failed(
            $"Agent '{agent}': {cli}'s event stream ended without a final result (exit code 0).{stderrNote}",
            CliFailureKinds.NoResult,
            Retryable: true,
            Cap(partialOutput));
    }

    private string Cap(string output) => OutputText.Tail(output, _options.MaxOutputLength);

    private static string SignalNote(int exitCode) =>
        !OperatingSystem.IsWindows() && exitCode is > 128 and < 128 + 65
            ? string.Create(CultureInfo.InvariantCulture, $" (killed by signal {exitCode - 128})")
            : "";

    /// <summary>
    /// The CLI to run: the agent's <c>command</c>, else the configured <see cref="CliRuntimeOptions.Command"/>, else the
    /// dialect's default names on PATH and then in <c>~/.local/bin</c> (where the Claude and Cursor installers put them).
    /// </summary>
    private bool TryResolve(CliSettings? settings, string? searchPath, out string executable, out string problem)
    {
        searchPath ??= _environment.SearchPath;
        if (settings?.Command is { } agentCommand)
        {
            if (CommandResolver.TryResolve(agentCommand, settings.BaseDirectory, searchPath, out executable, out problem))
            {
                return true;
            }

            problem = $"{problem}. Check 'command' in the agent's {_dialect.Runtime} settings.";
            return false;
        }

        if (_options.Command is { Length: > 0 } configured)
        {
            if (CommandResolver.TryResolve(configured, null, searchPath, out executable, out problem))
            {
                return true;
            }

            problem = $"The {_dialect.Runtime} runtime's {_dialect.DisplayName} CLI is not usable: {problem} (set by {_dialect.OptionsSection}:{nameof(CliRuntimeOptions.Command)}).";
            return false;
        }

        var localBin = Path.Combine(_environment.Home, ".local", "bin");
        var extendedPath = string.IsNullOrEmpty(searchPath) ? localBin : searchPath + Path.PathSeparator + localBin;
        foreach (var name in _dialect.DefaultCommands)
        {
            if (CommandResolver.TryResolve(name, null, extendedPath, out executable, out problem))
            {
                return true;
            }
        }

        executable = _dialect.DefaultCommands[0];
        var names = string.Join("' or '", _dialect.DefaultCommands);
        problem = $"The {_dialect.Runtime} runtime needs the {_dialect.DisplayName} CLI ('{names}'), which is not on PATH ({searchPath}) or in {localBin}. "
            + $"Install it ({_dialect.InstallHint}) or set {_dialect.OptionsSection}:{nameof(CliRuntimeOptions.Command)} to its path.";
        return false;
    }

    private ProcessStartInfo CreateStartInfo(AgentInvocation invocation, CliSettings settings, string executable, IReadOnlyList<string> arguments)
    {
        // The CLI itself; AgentProcess decides how it comes to lead a process group of its own.
        var startInfo = new ProcessStartInfo(executable);
        startInfo.WorkingDirectory = invocation.WorkspaceDirectory;
        startInfo.UseShellExecute = false;
        startInfo.RedirectStandardInput = true;
        startInfo.RedirectStandardOutput = true;
        startInfo.RedirectStandardError = true;
        startInfo.StandardInputEncoding = Utf8;
        startInfo.StandardOutputEncoding = Utf8;
        startInfo.StandardErrorEncoding = Utf8;

        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        // Order matters: the worker's environment, the runtime's defaults, the agent's env, then the run's own variables.
        foreach (var (name, value) in _dialect.DefaultEnvironment)
        {
            startInfo.Environment[name] = value;
        }

        foreach (var (name, value) in settings.Env)
        {
            startInfo.Environment[name] = value;
        }

        startInfo.Environment["WORKERS_RUN_ID"] = invocation.RunId.ToString("D");
        startInfo.Environment["WORKERS_ATTEMPT"] = invocation.Attempt.ToString(CultureInfo.InvariantCulture);
        startInfo.Environment["WORKERS_WORKSPACE"] = invocation.WorkspaceDirectory;
        startInfo.Environment["WORKERS_AGENT"] = invocation.Agent.Name;
        return startInfo;
    }

    /// <summary>Runs the CLI briefly with stdin closed; null when it cannot start or does not finish within the probe timeout.</summary>
    private async Task<CliProbeResult?> ProbeAsync(string executable, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(executable)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Utf8,
            StandardErrorEncoding = Utf8,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = new Process { StartInfo = startInfo };
        try
        {
            process.Start();
        }
        catch (Win32Exception)
        {
            return null;
        }

        try
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken).WaitAsync(_options.ProbeTimeout, _time, cancellationToken).ConfigureAwait(false);
            var output = await Task.WhenAll(stdout, stderr).WaitAsync(DrainTimeout, _time, cancellationToken).ConfigureAwait(false);
            return new CliProbeResult(process.ExitCode, output[0], output[1]);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException or IOException)
        {
            return null;
        }
        finally
        {
            ProcessStopper.KillTree(process);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Run {RunId}: agent {Agent} started on {Runtime} as process {ProcessId} ({Executable})")]
    private static partial void LogStarted(ILogger logger, Guid runId, string agent, string runtime, int processId, string executable);

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId}: cancelled; interrupting agent {Agent} (process {ProcessId} and its children)")]
    private static partial void LogCancelling(ILogger logger, Guid runId, string agent, int processId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId}: agent {Agent} exited and left processes running in its process group {ProcessGroup}; stopping them")]
    private static partial void LogStoppingLeftovers(ILogger logger, Guid runId, string agent, int processGroup);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Run {RunId}: agent {Agent} exited but its output was still open after {Seconds} s; stopped reading")]
    private static partial void LogDrainTimedOut(ILogger logger, Guid runId, string agent, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "setsid(1) (util-linux) or grep(1) not found (setsid: {Setsid}, grep: {Grep}): agent CLIs will NOT be killed if this worker dies abruptly; install util-linux and grep")]
    private static partial void LogUnsupervised(ILogger logger, string setsid, string grep);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Run {RunId}: the event sink failed for agent {Agent}; later events may be missing")]
    private static partial void LogSinkFailed(ILogger logger, Exception exception, Guid runId, string agent);
}
