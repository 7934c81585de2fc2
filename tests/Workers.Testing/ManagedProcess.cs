using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Workers.Testing;

/// <summary>
/// A child process under a test's control: the orchestrator, a worker, the CLI. Captures stdout and stderr line by
/// line, waits for output or an HTTP endpoint, stops it gracefully (SIGTERM) or kills it (SIGKILL, the whole tree,
/// as <c>kill -9</c> would in a chaos test). Disposing kills it if it still runs, so a failing test leaks no process.
/// </summary>
/// <example>
/// <code>
/// await using var worker = ManagedProcess.StartDotnet(RepoPaths.WorkerDll, [], new ManagedProcessOptions
/// {
///     Name = "worker-1",
///     Environment = FleetEnvironment.Worker(vhost, slots: 2),
///     Log = TestOutput.ForCurrentTest(),
/// });
/// await worker.WaitForOutputAsync("Application started", TimeSpan.FromSeconds(30));
/// worker.Kill();
/// </code>
/// </example>
public sealed class ManagedProcess : IAsyncDisposable
{
    /// <summary>How many output lines failure messages quote.</summary>
    public const int TailLines = 50;

    // Once the process has exited, output still in the pipes is read for at most this long: a grandchild that
    // inherited stdout (and outlived its parent) would otherwise keep the streams open indefinitely.
    static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(3);
    static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };

    readonly Process process;
    readonly Action<string>? log;
    readonly int maxLines;
    readonly Lock gate = new();
    readonly List<string> lines = [];
    readonly TaskCompletionSource<int> exitedSource = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly TaskCompletionSource streamsClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Task finished;
    long droppedLines;
    int openStreams = 2;
    bool outputComplete;
    TaskCompletionSource outputChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    ManagedProcess(ProcessStartInfo startInfo, ManagedProcessOptions options, string defaultName)
    {
        Name = options.Name ?? defaultName;
        log = options.Log;
        maxLines = Math.Max(TailLines, options.MaxBufferedLines);
        process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.Exited += (_, _) => exitedSource.TrySetResult(process.ExitCode);

        if (!process.Start())
            throw new InvalidOperationException($"Could not start {startInfo.FileName}.");
        Pid = process.Id;
        // Nothing is written to its stdin: close it, so a child that reads stdin sees end-of-file instead of hanging.
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        finished = MonitorAsync();
    }

    /// <summary>The name given in <see cref="ManagedProcessOptions.Name"/> (or the file name).</summary>
    public string Name { get; }

    /// <summary>The process id.</summary>
    public int Pid { get; }

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => exitedSource.Task.IsCompleted;

    /// <summary>The exit code once the process has exited, otherwise null. Killed by a signal: 128 + the signal (137 for SIGKILL).</summary>
    public int? ExitCode => exitedSource.Task.IsCompletedSuccessfully ? exitedSource.Task.Result : null;

    /// <summary>A snapshot of the output so far, stdout and stderr interleaved in arrival order.</summary>
    public IReadOnlyList<string> Output
    {
        get
        {
            lock (gate)
                return lines.ToArray();
        }
    }

    /// <summary>Starts a process.</summary>
    /// <param name="fileName">An executable path, or a name looked up on PATH.</param>
    /// <param name="arguments">Arguments, passed as they are (no shell quoting).</param>
    /// <param name="options">Working directory, environment, log sink.</param>
    public static ManagedProcess Start(string fileName, IEnumerable<string> arguments, ManagedProcessOptions? options = null) =>
        Start(fileName, arguments, options ?? new ManagedProcessOptions(), Path.GetFileName(fileName));

    static ManagedProcess Start(string fileName, IEnumerable<string> arguments, ManagedProcessOptions options, string defaultName)
    {
        ArgumentException.ThrowIfNullOrEmpty(fileName);
        ArgumentNullException.ThrowIfNull(arguments);

        var startInfo = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = options.WorkingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
            startInfo.ArgumentList.Add(argument);
        foreach (var (key, value) in options.Environment)
        {
            if (value is null)
                startInfo.Environment.Remove(key);
            else
                startInfo.Environment[key] = value;
        }
        return new ManagedProcess(startInfo, options, defaultName);
    }

    /// <summary>
    /// Runs a built .NET app (e.g. <see cref="RepoPaths.WorkerDll"/>) with the same <c>dotnet</c> that runs the tests.
    /// </summary>
    /// <exception cref="FileNotFoundException">The assembly is not built.</exception>
    public static ManagedProcess StartDotnet(string assemblyPath, IEnumerable<string> arguments, ManagedProcessOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(assemblyPath);
        ArgumentNullException.ThrowIfNull(arguments);
        if (!File.Exists(assemblyPath))
            throw new FileNotFoundException(
                $"{assemblyPath} does not exist. Build the solution first: dotnet build Workers.sln -c {RepoPaths.Configuration}", assemblyPath);
        // dotnet test sets DOTNET_HOST_PATH to the muxer it runs with; PATH is the fallback.
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        return Start(dotnet, [assemblyPath, .. arguments], options ?? new ManagedProcessOptions(), Path.GetFileNameWithoutExtension(assemblyPath));
    }

    /// <summary>
    /// Waits until a line containing <paramref name="text"/> (ordinal) has been printed, including lines printed
    /// before the call, and returns that line.
    /// </summary>
    /// <exception cref="TimeoutException">No such line within <paramref name="timeout"/>.</exception>
    /// <exception cref="InvalidOperationException">The process exited without printing it.</exception>
    public Task<string> WaitForOutputAsync(string text, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        return WaitForLineAsync(line => line.Contains(text, StringComparison.Ordinal) ? line : null, $"'{text}'", timeout, cancellationToken);
    }

    /// <summary>
    /// Waits until a line matching <paramref name="pattern"/> has been printed, including lines printed before the call,
    /// and returns the match (for its groups).
    /// </summary>
    /// <exception cref="TimeoutException">No such line within <paramref name="timeout"/>.</exception>
    /// <exception cref="InvalidOperationException">The process exited without printing it.</exception>
    public Task<Match> WaitForOutputAsync(Regex pattern, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        return WaitForLineAsync(line => pattern.Match(line) is { Success: true } m ? m : null, $"/{pattern}/", timeout, cancellationToken);
    }

    /// <summary>Polls <paramref name="url"/> with GET until it answers 2xx.</summary>
    /// <exception cref="TimeoutException">No 2xx answer within <paramref name="timeout"/>.</exception>
    /// <exception cref="InvalidOperationException">The process exited first.</exception>
    public async Task WaitForHttpOkAsync(Uri url, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(url);
        var deadline = Stopwatch.StartNew();
        var last = "no answer yet";
        while (true)
        {
            if (HasExited)
                throw new InvalidOperationException($"{Describe()} exited with code {ExitCode} before {url} answered 2xx (last: {last}).{Tail()}");
            try
            {
                using var response = await Http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                if (response.IsSuccessStatusCode)
                    return;
                last = $"{(int)response.StatusCode} {response.ReasonPhrase}";
            }
            catch (HttpRequestException e)
            {
                last = e.Message;
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                last = $"no answer within {Http.Timeout.TotalSeconds:0}s";
            }
            if (deadline.Elapsed >= timeout)
                throw new TimeoutException($"{Describe()}: {url} did not answer 2xx within {Format(timeout)} (last: {last}).{Tail()}");
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
    }

    /// <summary>Waits for the process to exit (and its output to be read) and returns its exit code.</summary>
    /// <exception cref="TimeoutException">It is still running after <paramref name="timeout"/>; it is left running.</exception>
    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        try
        {
            await finished.WaitAsync(timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{Describe()} did not exit within {Format(timeout)}.{Tail()}");
        }
        return exitedSource.Task.Result;
    }

    /// <summary>
    /// Kills the process and all its descendants with SIGKILL at once, like <c>kill -9</c>: no shutdown code runs.
    /// Does nothing if it has exited. Returns without waiting; use <see cref="WaitForExitAsync"/> to wait.
    /// </summary>
    public void Kill()
    {
        if (HasExited)
            return;
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }
    }

    /// <summary>
    /// Stops the process gracefully: SIGTERM (which .NET hosts handle as a shutdown request), then, if it still runs
    /// after <paramref name="grace"/>, SIGKILL to it and its descendants. Returns the exit code.
    /// </summary>
    public async Task<int> StopAsync(TimeSpan grace, CancellationToken cancellationToken = default)
    {
        if (!HasExited)
        {
            // .NET has no API to send SIGTERM to another process; libc's kill(2) is what `kill -TERM <pid>` calls.
            if (NativeMethods.kill(Pid, NativeMethods.SIGTERM) != 0 && !HasExited)
                Kill();
            try
            {
                await finished.WaitAsync(grace, cancellationToken);
            }
            catch (TimeoutException)
            {
                Kill();
            }
        }
        return await WaitForExitAsync(TimeSpan.FromSeconds(30), cancellationToken);
    }

    /// <summary>The last <paramref name="count"/> output lines, one per line, for failure messages.</summary>
    public string OutputTail(int count = TailLines)
    {
        lock (gate)
        {
            var tail = lines.Skip(Math.Max(0, lines.Count - count));
            var header = droppedLines + lines.Count > count ? $"last {Math.Min(count, lines.Count)} lines" : "output";
            return lines.Count == 0 ? "(no output)" : $"{header}:{Environment.NewLine}{string.Join(Environment.NewLine, tail)}";
        }
    }

    /// <summary>Kills the process tree if it still runs, then releases it.</summary>
    public async ValueTask DisposeAsync()
    {
        Kill();
        try
        {
            await finished.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            // Unkillable (e.g. uninterruptible sleep); nothing more a test can do.
        }
        process.Dispose();
    }

    /// <inheritdoc />
    public override string ToString() => Describe();

    async Task<T> WaitForLineAsync<T>(Func<string, T?> match, string what, TimeSpan timeout, CancellationToken cancellationToken)
        where T : class
    {
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        long next = 0; // absolute line number: lines dropped from the buffer's front keep counting
        while (true)
        {
            Task changed;
            bool complete;
            lock (gate)
            {
                for (var i = Math.Max(next, droppedLines) - droppedLines; i < lines.Count; i++)
                {
                    if (match(lines[(int)i]) is { } found)
                        return found;
                }
                next = droppedLines + lines.Count;
                changed = outputChanged.Task;
                complete = outputComplete;
            }
            if (complete)
                throw new InvalidOperationException($"{Describe()} exited with code {ExitCode} without printing {what}.{Tail()}");
            try
            {
                await changed.WaitAsync(timeoutSource.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"{Describe()} did not print {what} within {Format(timeout)}.{Tail()}");
            }
        }
    }

    void OnLine(string? line)
    {
        if (line is null)
        {
            // End of one stream.
            if (Interlocked.Decrement(ref openStreams) == 0)
                streamsClosed.TrySetResult();
            return;
        }
        TaskCompletionSource changed;
        lock (gate)
        {
            lines.Add(line);
            if (lines.Count > maxLines + (maxLines / 10))
            {
                // Trim in batches so each line costs O(1) amortised.
                var excess = lines.Count - maxLines;
                lines.RemoveRange(0, excess);
                droppedLines += excess;
            }
            changed = outputChanged;
            outputChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
        Echo(line);
    }

    async Task MonitorAsync()
    {
        var exitCode = await exitedSource.Task;
        await Task.WhenAny(streamsClosed.Task, Task.Delay(DrainTimeout));
        TaskCompletionSource changed;
        lock (gate)
        {
            outputComplete = true;
            changed = outputChanged;
        }
        changed.TrySetResult();
        Echo($"(exited with code {exitCode})");
    }

    void Echo(string line)
    {
        if (log is null)
            return;
        try
        {
            log($"[{Name}] {line}");
        }
#pragma warning disable CA1031 // A sink that throws (e.g. a test's output after the test ended) must not break the reader.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    string Describe() => $"{Name} (pid {Pid})";

    string Tail() => Environment.NewLine + OutputTail();

    static class NativeMethods
    {
        public const int SIGTERM = 15;

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
#pragma warning disable SYSLIB1054, CA1401 // LibraryImport would need unsafe code enabled for one blittable call.
        public static extern int kill(int pid, int sig);
#pragma warning restore SYSLIB1054, CA1401
    }

    static string Format(TimeSpan timeout) =>
        timeout.TotalSeconds < 120 ? $"{timeout.TotalSeconds:0.#}s" : $"{timeout.TotalMinutes:0.#} min";
}
