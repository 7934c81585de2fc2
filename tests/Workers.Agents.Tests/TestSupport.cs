using System.Globalization;
using System.Text;
using System.Text.Json;

using Workers.Agents.Runtimes;
using Workers.Contracts;

namespace Workers.Agents.Tests;

/// <summary>A temporary directory, deleted on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "workers-agents-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Workspace => System.IO.Path.Combine(Path, "workspace");

    /// <summary>Writes a file (creating directories) and returns its full path.</summary>
    public string WriteFile(string relativePath, string content)
    {
        var path = System.IO.Path.Combine(Path, relativePath);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content.ReplaceLineEndings("\n"), new UTF8Encoding(false));
        return path;
    }

    /// <summary>Writes an executable bash script and returns its full path.</summary>
    public string WriteScript(string relativePath, string body) => WriteExecutable(relativePath, "#!/usr/bin/env bash\n" + body);

    /// <summary>Writes a file with the executable bit set and returns its full path.</summary>
    public string WriteExecutable(string relativePath, string content)
    {
        var path = WriteFile(relativePath, content);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        return path;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a stray process may still be writing.
        }
    }
}

/// <summary>Records events; lets a test wait for one without sleeping.</summary>
internal sealed class RecordingSink : IAgentEventSink
{
    private readonly Lock _gate = new();
    private readonly List<AgentEvent> _events = [];
    private readonly List<(Func<AgentEvent, bool> Match, TaskCompletionSource<AgentEvent> Seen)> _waiters = [];

    public IReadOnlyList<AgentEvent> Events
    {
        get
        {
            lock (_gate)
            {
                return [.. _events];
            }
        }
    }

    public void Emit(AgentEvent agentEvent)
    {
        lock (_gate)
        {
            _events.Add(agentEvent);
            _waiters.RemoveAll(waiter => waiter.Match(agentEvent) && waiter.Seen.TrySetResult(agentEvent));
        }
    }

    public Task<AgentEvent> WaitForAsync(Func<AgentEvent, bool> match)
    {
        lock (_gate)
        {
            if (_events.FirstOrDefault(match) is { } seen)
            {
                return Task.FromResult(seen);
            }

            var waiter = new TaskCompletionSource<AgentEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, waiter));
            return waiter.Task;
        }
    }

    public Task<AgentEvent.Message> WaitForMessageAsync(string prefix) =>
        WaitForAsync(e => e is AgentEvent.Message m && m.Text.StartsWith(prefix, StringComparison.Ordinal))
            .ContinueWith(t => (AgentEvent.Message)t.Result, TaskScheduler.Default);
}

internal static class TestData
{
    /// <summary>Upper bound for anything a test awaits; a guard against hangs, not a timing assertion.</summary>
    public static readonly TimeSpan Guard = TimeSpan.FromSeconds(60);

    public static AgentInvocation Invocation(string workspace, object settings, string input = "", string agent = "test-agent", int attempt = 1) =>
        new(
            Guid.NewGuid(),
            attempt,
            input,
            new AgentSpec { Name = agent, Runtime = RuntimeNames.Process, Settings = JsonSerializer.SerializeToElement(settings) },
            workspace);

    /// <summary>The repository root (where Workers.sln is), found from the test binaries.</summary>
    public static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Workers.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("Workers.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>True while the process runs; a zombie (finished, not yet reaped) counts as gone.</summary>
    public static bool IsRunning(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (IOException)
        {
            return false;
        }

        var state = stat[(stat.LastIndexOf(')') + 2)..][0];
        return state is not ('Z' or 'X');
    }
}
