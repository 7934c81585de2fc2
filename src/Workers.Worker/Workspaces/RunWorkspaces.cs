using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Workers.Agents.Runtimes;
using Workers.Contracts;

namespace Workers.Worker.Workspaces;

/// <summary>
/// Makes each attempt's workspace under <see cref="WorkerOptions.WorkspaceRoot"/>: an empty directory, the repository of
/// the dispatch cloned into it if it names one. <see cref="RunWorkspace"/> records the artifacts after the run and then
/// empties the directory for a later attempt of this worker, or deletes it when it cannot be emptied or
/// <see cref="WorkerOptions.KeepWorkspaces"/> is set (then each attempt gets a directory named after it, and keeps it).
/// </summary>
/// <remarks>
/// Why directories are reused: making and removing one per run serialises every slot on the parent directory's lock and
/// on the file system's inode allocation; in W1 (2 workers × 16 slots) <c>mkdir</c> and <c>rmdir</c> were a fifth of the
/// workers' CPU. A worker keeps as many directories as it ran attempts at once, under a directory of its own.
/// </remarks>
public sealed partial class RunWorkspaces(IOptions<WorkerOptions> options, ILogger<RunWorkspaces> logger) : IDisposable
{
    /// <summary>Emptied directories ready for the next attempt.</summary>
    readonly ConcurrentBag<string> _idle = [];
    readonly string _instance = $"worker-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";
    int _made;

    /// <summary>Failure kind of a workspace directory that could not be made (the same kind the CLI runtimes use).</summary>
    public const string WorkspaceKind = "workspace";

    /// <summary>
    /// Creates and fills the workspace of one attempt. Never throws for a failed clone: the returned workspace then carries
    /// the outcome to report instead of running the agent (<see cref="RunWorkspace.EarlyOutcome"/>).
    /// </summary>
    public async Task<RunWorkspace> OpenAsync(ExecuteRun dispatch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dispatch);
        var settings = options.Value;
        var spec = dispatch.Agent.Workspace;
        var directory = settings.KeepWorkspaces
            ? Path.Combine(Root, $"{dispatch.RunId:N}-{dispatch.Attempt}-{Guid.NewGuid().ToString("N")[..6]}")
            : TakeIdle() ?? Path.Combine(Home, Interlocked.Increment(ref _made).ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            var prepared = await WorkspacePreparer.PrepareAsync(directory, spec, settings.WorkspaceCloneTimeout, cancellationToken).ConfigureAwait(false);
            if (spec is not null)
                LogCloned(logger, dispatch.RunId, dispatch.Attempt, spec.Repository, prepared.BaseCommit ?? "(empty repository)");
            return new RunWorkspace(this, prepared, null);
        }
        catch (WorkspaceException ex)
        {
            LogCloneFailed(logger, dispatch.RunId, dispatch.Attempt, ex.Kind, ex.Message);
            return new RunWorkspace(this, new PreparedWorkspace(directory, spec, null, null),
                new AgentOutcome.Failed(ex.Message, ex.Kind, ex.Retryable));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A full disk or a bad WorkspaceRoot: another worker may do better.
            LogCloneFailed(logger, dispatch.RunId, dispatch.Attempt, WorkspaceKind, ex.Message);
            return new RunWorkspace(this, new PreparedWorkspace(directory, spec, null, null),
                new AgentOutcome.Failed($"the workspace {directory} could not be made: {ex.Message}", WorkspaceKind, Retryable: true));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new RunWorkspace(this, new PreparedWorkspace(directory, spec, null, null), new AgentOutcome.Cancelled());
        }
    }

    string Root => options.Value.WorkspaceRoot ?? Path.Combine(Path.GetTempPath(), "workers", "workspaces");

    /// <summary>This worker's own directory, holding the directories it reuses.</summary>
    string Home => Path.Combine(Root, _instance);

    /// <summary>An idle directory that is still an empty directory of its own; one found otherwise is deleted.</summary>
    string? TakeIdle()
    {
        while (_idle.TryTake(out var directory))
        {
            // Emptied again, not trusted: a process the last agent left behind may have written into it since.
            if (TryEmpty(directory) && TryRestoreMode(directory))
                return directory;
            Delete(directory);
        }
        return null;
    }

    /// <summary>
    /// Gives the directory back the permissions a new one gets (those of this worker's own directory), in case the last
    /// agent changed them: a workspace it made read-only must not stay so for the next attempt.
    /// </summary>
    bool TryRestoreMode(string directory)
    {
        if (OperatingSystem.IsWindows())
            return true;
        try
        {
            var expected = File.GetUnixFileMode(Home);
            if (File.GetUnixFileMode(directory) != expected)
                File.SetUnixFileMode(directory, expected);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Deletes what is inside the directory, never following a symbolic link; false when the directory is gone, was
    /// replaced by a link, or something in it could not be deleted.
    /// </summary>
    static bool TryEmpty(string directory)
    {
        try
        {
            var info = new DirectoryInfo(directory);
            if (info is not { Exists: true, LinkTarget: null })
                return false;
            foreach (var entry in info.EnumerateFileSystemInfos())
            {
                if (entry.LinkTarget is not null)
                    File.Delete(entry.FullName); // the link itself, never its target
                else if (entry is DirectoryInfo subdirectory)
                    subdirectory.Delete(recursive: true);
                else
                    entry.Delete();
            }
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    internal async Task<RunArtifacts?> CollectAsync(PreparedWorkspace workspace, CommandRecorder recorder, AgentOutcome outcome)
    {
        try
        {
            // Not the run's token: a stopped run's artifacts are recorded too, within their own deadline.
            return await ArtifactCollector.CollectAsync(workspace, recorder, outcome, options.Value.WorkspaceCloneTimeout, CancellationToken.None)
                .ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Artifacts are a record of the run, never a reason to lose its result.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogCollectFailed(logger, workspace.Directory, ex);
            return null;
        }
    }

    internal void Release(string directory)
    {
        if (options.Value.KeepWorkspaces)
        {
            LogKept(logger, directory);
            return;
        }
        if (TryEmpty(directory))
            _idle.Add(directory);
        else
            Delete(directory);
    }

    void Delete(string directory)
    {
        try
        {
            // A symbolic link put in the directory's place is removed itself, never followed.
            var info = new FileInfo(directory);
            if (info.LinkTarget is not null || info.Exists)
                info.Delete();
            else if (Directory.Exists(directory))
                Directory.Delete(directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogDeleteFailed(logger, directory, ex.Message);
        }
    }

    /// <summary>Deletes this worker's idle directories (on shutdown, once the runs have drained).</summary>
    public void Dispose()
    {
        while (_idle.TryTake(out var directory))
            Delete(directory);
        var home = Home;
        try
        {
            if (Directory.Exists(home) && !Directory.EnumerateFileSystemEntries(home).Any())
                Directory.Delete(home);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogDeleteFailed(logger, home, ex.Message);
        }
    }

    [LoggerMessage(EventId = 40, Level = LogLevel.Debug, Message = "Run {RunId} attempt {Attempt}: cloned {Repository} at {Commit}")]
    static partial void LogCloned(ILogger logger, Guid runId, int attempt, string repository, string commit);

    [LoggerMessage(EventId = 41, Level = LogLevel.Warning, Message = "Run {RunId} attempt {Attempt}: workspace not prepared ({Kind}): {Reason}")]
    static partial void LogCloneFailed(ILogger logger, Guid runId, int attempt, string kind, string reason);

    [LoggerMessage(EventId = 42, Level = LogLevel.Warning, Message = "Artifacts of workspace {Directory} could not be recorded")]
    static partial void LogCollectFailed(ILogger logger, string directory, Exception exception);

    [LoggerMessage(EventId = 43, Level = LogLevel.Information, Message = "Workspace {Directory} kept (Workers:Worker:KeepWorkspaces)")]
    static partial void LogKept(ILogger logger, string directory);

    [LoggerMessage(EventId = 44, Level = LogLevel.Warning, Message = "Workspace {Directory} could not be deleted: {Error}")]
    static partial void LogDeleteFailed(ILogger logger, string directory, string error);
}

/// <summary>One attempt's workspace, from its preparation to its deletion (on dispose).</summary>
public sealed class RunWorkspace : IAsyncDisposable
{
    readonly RunWorkspaces _owner;
    readonly PreparedWorkspace _prepared;
    CommandRecorder? _recorder;

    internal RunWorkspace(RunWorkspaces owner, PreparedWorkspace prepared, AgentOutcome? earlyOutcome)
    {
        _owner = owner;
        _prepared = prepared;
        EarlyOutcome = earlyOutcome;
    }

    /// <summary>The agent's working directory.</summary>
    public string Directory => _prepared.Directory;

    /// <summary>Set when the workspace could not be prepared (a failed clone, or the run stopped meanwhile): report it and do not run the agent.</summary>
    public AgentOutcome? EarlyOutcome { get; }

    /// <summary>The sink to give the runtime: it forwards every event to <paramref name="events"/> and keeps the commands run.</summary>
    public IAgentEventSink Record(IAgentEventSink events) => _recorder = new CommandRecorder(events);

    /// <summary>The artifacts of the attempt that ended with <paramref name="outcome"/>; null if they could not be recorded or the agent never ran.</summary>
    public Task<RunArtifacts?> CollectAsync(AgentOutcome outcome) =>
        EarlyOutcome is not null
            ? Task.FromResult<RunArtifacts?>(null)
            : _owner.CollectAsync(_prepared, _recorder ?? new CommandRecorder(NoEvents.Instance), outcome);

    /// <summary>Empties the directory for a later attempt (or deletes it), unless <see cref="WorkerOptions.KeepWorkspaces"/> is set.</summary>
    public ValueTask DisposeAsync()
    {
        _owner.Release(_prepared.Directory);
        return ValueTask.CompletedTask;
    }

    sealed class NoEvents : IAgentEventSink
    {
        public static NoEvents Instance { get; } = new();

        public void Emit(AgentEvent agentEvent)
        {
        }
    }
}

/// <summary>Puts recorded artifacts on the result event of an attempt.</summary>
public static class RunResultArtifacts
{
    /// <summary><paramref name="result"/> with <paramref name="artifacts"/> when it is a result that carries them; otherwise unchanged.</summary>
    public static object With(object result, RunArtifacts? artifacts) => result switch
    {
        _ when artifacts is null => result,
        RunSucceeded succeeded => succeeded with { Artifacts = artifacts },
        RunFailed failed => failed with { Artifacts = artifacts },
        RunCancelled cancelled => cancelled with { Artifacts = artifacts },
        _ => result,
    };
}
