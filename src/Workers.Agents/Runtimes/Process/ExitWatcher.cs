using System.Collections.Concurrent;
using System.ComponentModel;
using System.Runtime.InteropServices;

namespace Workers.Agents.Runtimes;

/// <summary>
/// One thread per worker that learns of every spawned agent's exit: each agent's pidfd is in one epoll set, and turns readable
/// when the agent exits; the thread then reaps it (<see cref="SpawnedAgentProcess.OnExited"/>). A thousand agents cost one
/// blocked thread, not a thread (or a poll) each.
/// </summary>
internal static partial class ExitWatcher
{
    private const string Libc = "libc";
    private const int CloseOnExec = 0x80000;
    private const int Add = 1;
    private const int Delete = 2;
    private const uint Readable = 1;
    private const int Interrupted = 4;
    private const int BatchSize = 64;

    // struct epoll_event is packed on x86_64 (events at 0, data at 4: 12 bytes) and naturally aligned elsewhere (data at 8: 16 bytes).
    private static readonly bool Packed = RuntimeInformation.ProcessArchitecture == Architecture.X64;
    private static readonly int EventSize = Packed ? 12 : 16;
    private static readonly int DataOffset = Packed ? 4 : 8;

    private static readonly ConcurrentDictionary<int, SpawnedAgentProcess> Watched = new();
    private static readonly int s_epoll = OperatingSystem.IsLinux() ? EpollCreate(CloseOnExec) : -1;
    private static readonly Lock StartLock = new();
    private static Thread? s_thread;

    /// <summary>True when the epoll instance exists.</summary>
    public static bool Available => s_epoll >= 0;

    /// <summary>Watches <paramref name="process"/> until it exits. Throws <see cref="Win32Exception"/> if the kernel refuses.</summary>
    public static unsafe void Watch(SpawnedAgentProcess process)
    {
        EnsureThread();
        var pidfd = process.Pidfd;
        Watched[pidfd] = process;
        var entry = stackalloc byte[16];
        *(uint*)entry = Readable;
        *(long*)(entry + DataOffset) = pidfd;
        // Level-triggered: a process that exited before this call is reported at once.
        if (EpollControl(s_epoll, Add, pidfd, entry) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            Watched.TryRemove(pidfd, out _);
            throw new Win32Exception(errno);
        }
    }

    private static void EnsureThread()
    {
        if (s_thread is not null)
        {
            return;
        }

        lock (StartLock)
        {
            if (s_thread is null)
            {
                var thread = new Thread(Run) { IsBackground = true, Name = "agent exit watcher" };
                thread.Start();
                s_thread = thread;
            }
        }
    }

    private static unsafe void Run()
    {
        var events = (byte*)NativeMemory.Alloc((nuint)(BatchSize * EventSize));
        while (true)
        {
            var ready = EpollWait(s_epoll, events, BatchSize, -1);
            if (ready < 0)
            {
                // EINTR is routine; anything else (EBADF, EFAULT) cannot heal, but spinning on it must not eat a core.
                if (Marshal.GetLastPInvokeError() != Interrupted)
                {
                    Thread.Sleep(100);
                }

                continue;
            }

            for (var i = 0; i < ready; i++)
            {
                var pidfd = (int)*(long*)(events + (i * EventSize) + DataOffset);
                _ = EpollControl(s_epoll, Delete, pidfd, null);
                if (Watched.TryRemove(pidfd, out var process))
                {
                    process.OnExited();
                }
            }
        }
    }

    [LibraryImport(Libc, EntryPoint = "epoll_create1", SetLastError = true)]
    private static partial int EpollCreate(int flags);

    [LibraryImport(Libc, EntryPoint = "epoll_ctl", SetLastError = true)]
    private static unsafe partial int EpollControl(int epoll, int operation, int fd, byte* entry);

    [LibraryImport(Libc, EntryPoint = "epoll_wait", SetLastError = true)]
    private static unsafe partial int EpollWait(int epoll, byte* events, int capacity, int timeoutMs);
}
