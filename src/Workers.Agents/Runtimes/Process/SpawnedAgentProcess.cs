using System.ComponentModel;
using System.Diagnostics;
using System.IO.Pipes;
using System.Runtime.InteropServices;
using System.Text;

using Microsoft.Win32.SafeHandles;

namespace Workers.Agents.Runtimes;

/// <summary>
/// An agent spawned with posix_spawn(3) (Linux, glibc): the leader of a new session and process group, every signal at its
/// default and none blocked, whatever the worker inherited (a shell's background job ignores SIGINT and SIGQUIT), its stdio on
/// three pipes and its working directory set, all in the one exec of the agent itself. Starting it behind setsid(1) costs a
/// second exec per run, as much CPU again as a small agent's own (measured in <c>docs/benchmarks.md</c>).
/// <para>
/// Its exit is watched through a pidfd (<see cref="ExitWatcher"/>), and it is reaped there; the runtime's own SIGCHLD handling
/// only reaps the processes <see cref="System.Diagnostics.Process"/> started.
/// </para>
/// </summary>
internal sealed partial class SpawnedAgentProcess : AgentProcess
{
    private const string Libc = "libc";

    // glibc's opaque types, with room to spare (x86_64: posix_spawn_file_actions_t 80 bytes, posix_spawnattr_t 336, sigset_t 128).
    private const int FileActionsSize = 512;
    private const int AttributesSize = 1024;
    private const int SignalSetSize = 256;

    private const short SpawnSetSignalDefaults = 0x04;
    private const short SpawnSetSignalMask = 0x08;
    private const short SpawnSetSession = 0x80;
    private const int CloseOnExec = 0x80000;
    private const int NoHang = 1;
    private const int Interrupted = 4;
    private const int NoChild = 10;

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    private readonly Lock _lock = new();
    private readonly TaskCompletionSource<int> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly int _pidfd;
    private bool _disposed;

    private SpawnedAgentProcess(int pid, int pidfd, StreamWriter input, StreamReader output, StreamReader error)
    {
        Id = pid;
        _pidfd = pidfd;
        StandardInput = input;
        StandardOutput = output;
        StandardError = error;
    }

    /// <summary>
    /// True on Linux with a glibc that has posix_spawn_file_actions_addchdir_np (2.29; POSIX_SPAWN_SETSID came in 2.26) and
    /// pidfd_open (2.36), on a kernel with pidfds (5.3).
    /// </summary>
    public static bool Supported { get; } = Probe();

    public override int Id { get; }

    public override int? GroupId => Id;

    public override bool ExecFailureOnStderr => false;

    public override StreamWriter StandardInput { get; }

    public override StreamReader StandardOutput { get; }

    public override StreamReader StandardError { get; }

    public override bool HasExited => _exit.Task.IsCompleted;

    public override int ExitCode => HasExited ? _exit.Task.Result : throw new InvalidOperationException($"Process {Id} has not exited.");

    /// <summary>The pidfd <see cref="ExitWatcher"/> waits on; open until the process is both reaped and disposed.</summary>
    internal int Pidfd => _pidfd;

    public override Task WaitForExitAsync(CancellationToken cancellationToken = default) => _exit.Task.WaitAsync(cancellationToken);

    public override void KillTree()
    {
        if (HasExited)
        {
            return;
        }

        // Its group first (what it started and left in it), then every descendant, the agent itself among them.
        ProcessTree.SignalGroup(Id, ProcessTree.SigKill);
        ProcessTree.Signal(ProcessTree.Snapshot(Id), ProcessTree.SigKill);
    }

    public static new unsafe SpawnedAgentProcess Start(ProcessStartInfo startInfo)
    {
        var arguments = new List<string>(startInfo.ArgumentList.Count + 1) { startInfo.FileName };
        arguments.AddRange(startInfo.ArgumentList);
        var environment = new List<string>(startInfo.Environment.Count);
        foreach (var (name, value) in startInfo.Environment)
        {
            if (value is not null)
            {
                environment.Add($"{name}={value}");
            }
        }

        // [0] read end, [1] write end; all close-on-exec, so only the dup2'd copies reach the agent.
        var input = stackalloc int[2] { -1, -1 };
        var output = stackalloc int[2] { -1, -1 };
        var error = stackalloc int[2] { -1, -1 };
        var argv = NullTerminatedStrings.Create(arguments);
        var envp = NullTerminatedStrings.Create(environment);
        var actions = NativeMemory.AllocZeroed(FileActionsSize);
        var attributes = NativeMemory.AllocZeroed(AttributesSize);
        var signals = NativeMemory.AllocZeroed(SignalSetSize);
        var actionsReady = false;
        var attributesReady = false;
        try
        {
            if (Pipe2(input, CloseOnExec) != 0 || Pipe2(output, CloseOnExec) != 0 || Pipe2(error, CloseOnExec) != 0)
            {
                throw new Win32Exception(Marshal.GetLastPInvokeError());
            }

            Check(FileActionsInit((nint)actions));
            actionsReady = true;
            Check(FileActionsAddDup2((nint)actions, input[0], 0));
            Check(FileActionsAddDup2((nint)actions, output[1], 1));
            Check(FileActionsAddDup2((nint)actions, error[1], 2));
            if (!string.IsNullOrEmpty(startInfo.WorkingDirectory))
            {
                Check(FileActionsAddChdir((nint)actions, startInfo.WorkingDirectory));
            }

            Check(AttributesInit((nint)attributes));
            attributesReady = true;
            Check(AttributesSetFlags((nint)attributes, SpawnSetSession | SpawnSetSignalDefaults | SpawnSetSignalMask));
            // Every bit set by hand: sigfillset leaves out glibc's two internal signals (32, 33), which the child would then
            // start with ignored, a disposition exec keeps.
            new Span<byte>(signals, SignalSetSize).Fill(0xFF);
            Check(AttributesSetSignalDefaults((nint)attributes, (nint)signals));
            Check(SignalEmptySet((nint)signals));
            Check(AttributesSetSignalMask((nint)attributes, (nint)signals));

            int pid;
            // Returns the error of the exec itself (ENOENT, EACCES, ENOEXEC...): glibc's child reports it before the call returns.
            Check(PosixSpawn(&pid, startInfo.FileName, (nint)actions, (nint)attributes, argv, envp));
            CloseChildEnds(input, output, error);

            var pidfd = PidfdOpen(pid, 0);
            if (pidfd < 0)
            {
                // Out of descriptors, most likely: the agent cannot be watched, so it must not run.
                var errno = Marshal.GetLastPInvokeError();
                ProcessTree.SignalGroup(pid, ProcessTree.SigKill);
                Reap(pid);
                throw new Win32Exception(errno);
            }

            var process = new SpawnedAgentProcess(
                pid,
                pidfd,
                new StreamWriter(OpenPipe(input[1], PipeDirection.Out), Encoding(startInfo.StandardInputEncoding), 4096) { AutoFlush = true },
                new StreamReader(OpenPipe(output[0], PipeDirection.In), Encoding(startInfo.StandardOutputEncoding), true, 4096),
                new StreamReader(OpenPipe(error[0], PipeDirection.In), Encoding(startInfo.StandardErrorEncoding), true, 4096));
            input[1] = output[0] = error[0] = -1; // The streams own them now.
            try
            {
                ExitWatcher.Watch(process);
            }
            catch
            {
                ProcessTree.SignalGroup(pid, ProcessTree.SigKill);
                process.OnExited();
                process.Dispose();
                throw;
            }

            return process;
        }
        catch
        {
            CloseChildEnds(input, output, error);
            CloseIfOpen(input[1]);
            CloseIfOpen(output[0]);
            CloseIfOpen(error[0]);
            throw;
        }
        finally
        {
            if (actionsReady)
            {
                _ = FileActionsDestroy((nint)actions);
            }

            if (attributesReady)
            {
                _ = AttributesDestroy((nint)attributes);
            }

            NativeMemory.Free(actions);
            NativeMemory.Free(attributes);
            NativeMemory.Free(signals);
            NativeMemory.Free(argv);
            NativeMemory.Free(envp);
        }
    }

    /// <summary>Called by <see cref="ExitWatcher"/> when the pidfd says the agent has exited: reaps it.</summary>
    internal void OnExited()
    {
        var code = Reap(Id);
        lock (_lock)
        {
            if (_disposed)
            {
                _ = Close(_pidfd);
            }
        }

        _exit.TrySetResult(code);
    }

    protected override void Dispose(bool disposing)
    {
        if (!disposing)
        {
            return;
        }

        StandardInput.Dispose();
        StandardOutput.Dispose();
        StandardError.Dispose();
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            // Still running (should not happen: the runtimes wait for it): the watcher closes the pidfd once it has reaped it.
            if (HasExited)
            {
                _ = Close(_pidfd);
            }
        }
    }

    /// <summary>Waits for <paramref name="pid"/> (already exited or killed) and returns its exit code, 128 + the signal for a killed one.</summary>
    private static unsafe int Reap(int pid)
    {
        for (var attempt = 0; ; attempt++)
        {
            int status;
            var reaped = WaitPid(pid, &status, attempt < 1000 ? NoHang : 0);
            if (reaped == pid)
            {
                var signal = status & 0x7f;
                return signal == 0 ? (status >> 8) & 0xff : 128 + signal;
            }

            if (reaped < 0 && Marshal.GetLastPInvokeError() is var errno && errno != Interrupted)
            {
                // ECHILD: reaped by someone else (a process-wide SIGCHLD handler that reaps every child); its code is lost.
                return errno == NoChild ? -1 : throw new Win32Exception(errno);
            }

            if (reaped == 0)
            {
                // The pidfd turns readable as the process exits; the zombie may take a moment to be waitable.
                Thread.Sleep(1);
            }
        }
    }

    private static AnonymousPipeClientStream OpenPipe(int fd, PipeDirection direction) =>
        new AnonymousPipeClientStream(direction, new SafePipeHandle(fd, ownsHandle: true));

    private static Encoding Encoding(Encoding? encoding) => encoding ?? Utf8;

    private static unsafe void CloseChildEnds(int* input, int* output, int* error)
    {
        CloseIfOpen(input[0]);
        CloseIfOpen(output[1]);
        CloseIfOpen(error[1]);
        input[0] = output[1] = error[1] = -1;
    }

    private static void CloseIfOpen(int fd)
    {
        if (fd >= 0)
        {
            _ = Close(fd);
        }
    }

    private static void Check(int result)
    {
        if (result != 0)
        {
            throw new Win32Exception(result);
        }
    }

    private static bool Probe()
    {
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libc.so.6", out var libc))
        {
            return false;
        }

        if (!NativeLibrary.TryGetExport(libc, "posix_spawn_file_actions_addchdir_np", out _)
            || !NativeLibrary.TryGetExport(libc, "pidfd_open", out _)
            || !NativeLibrary.TryGetExport(libc, "gnu_get_libc_version", out _))
        {
            return false;
        }

        // The kernel must have pidfds too, and the watcher its epoll instance.
        var self = PidfdOpen(Environment.ProcessId, 0);
        if (self < 0)
        {
            return false;
        }

        _ = Close(self);
        return ExitWatcher.Available;
    }

    /// <summary>argv/envp: a NULL-terminated array of pointers to NUL-terminated UTF-8 strings, in one block.</summary>
    private static class NullTerminatedStrings
    {
        public static unsafe byte** Create(List<string> values)
        {
            var pointers = (values.Count + 1) * sizeof(byte*);
            var bytes = 0;
            foreach (var value in values)
            {
                bytes += Utf8.GetByteCount(value) + 1;
            }

            var block = (byte*)NativeMemory.Alloc((nuint)(pointers + bytes));
            var array = (byte**)block;
            var next = block + pointers;
            for (var i = 0; i < values.Count; i++)
            {
                array[i] = next;
                var written = Utf8.GetBytes(values[i], new Span<byte>(next, bytes));
                next[written] = 0;
                next += written + 1;
                bytes -= written + 1;
            }

            array[values.Count] = null;
            return array;
        }
    }

    [LibraryImport(Libc, EntryPoint = "pipe2", SetLastError = true)]
    private static unsafe partial int Pipe2(int* fds, int flags);

    [LibraryImport(Libc, EntryPoint = "close")]
    private static partial int Close(int fd);

    [LibraryImport(Libc, EntryPoint = "pidfd_open", SetLastError = true)]
    private static partial int PidfdOpen(int pid, uint flags);

    [LibraryImport(Libc, EntryPoint = "waitpid", SetLastError = true)]
    private static unsafe partial int WaitPid(int pid, int* status, int options);

    [LibraryImport(Libc, EntryPoint = "posix_spawn", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int PosixSpawn(int* pid, string path, nint actions, nint attributes, byte** argv, byte** envp);

    [LibraryImport(Libc, EntryPoint = "posix_spawn_file_actions_init")]
    private static partial int FileActionsInit(nint actions);

    [LibraryImport(Libc, EntryPoint = "posix_spawn_file_actions_adddup2")]
    private static partial int FileActionsAddDup2(nint actions, int fd, int newFd);

    [LibraryImport(Libc, EntryPoint = "posix_spawn_file_actions_addchdir_np", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FileActionsAddChdir(nint actions, string path);

    [LibraryImport(Libc, EntryPoint = "posix_spawn_file_actions_destroy")]
    private static partial int FileActionsDestroy(nint actions);

    [LibraryImport(Libc, EntryPoint = "posix_spawnattr_init")]
    private static partial int AttributesInit(nint attributes);

    [LibraryImport(Libc, EntryPoint = "posix_spawnattr_setflags")]
    private static partial int AttributesSetFlags(nint attributes, short flags);

    [LibraryImport(Libc, EntryPoint = "posix_spawnattr_setsigdefault")]
    private static partial int AttributesSetSignalDefaults(nint attributes, nint signals);

    [LibraryImport(Libc, EntryPoint = "posix_spawnattr_setsigmask")]
    private static partial int AttributesSetSignalMask(nint attributes, nint signals);

    [LibraryImport(Libc, EntryPoint = "posix_spawnattr_destroy")]
    private static partial int AttributesDestroy(nint attributes);

    [LibraryImport(Libc, EntryPoint = "sigemptyset")]
    private static partial int SignalEmptySet(nint set);
}
