using System.Diagnostics;
using System.Globalization;

namespace Workers.Benchmarks;

/// <summary>
/// CPU time of every process and of the machine at one instant, read from <c>/proc</c>. Two snapshots give the CPU
/// seconds each part of the system used in between, exactly (kernel accounting, not sampling).
/// </summary>
public sealed class CpuSnapshot
{
    // USER_HZ: /proc reports CPU time in these ticks. 100 on every mainstream Linux build.
    const double TicksPerSecond = 100;

    readonly Dictionary<int, ProcessTimes> processes;

    CpuSnapshot(Dictionary<int, ProcessTimes> processes, double machineBusySeconds)
    {
        this.processes = processes;
        MachineBusySeconds = machineBusySeconds;
    }

    /// <summary>
    /// Busy CPU seconds of all cores (everything but idle and iowait), up to a constant: only the difference between two
    /// snapshots means anything.
    /// </summary>
    public double MachineBusySeconds { get; }

    /// <summary>CPU time of one process: its own, and that of its children it has already reaped.</summary>
    public sealed record ProcessTimes(int Pid, int ParentPid, string Name, double SelfSeconds, double ReapedChildrenSeconds);

    /// <summary>Reads <c>/proc/stat</c> and <c>/proc/*/stat</c>. Processes that exit while being read are skipped.</summary>
    public static CpuSnapshot Take()
    {
        var processes = new Dictionary<int, ProcessTimes>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                continue;
            try
            {
                if (Parse(pid, File.ReadAllText(Path.Combine(directory, "stat"))) is { } times)
                    processes[pid] = times;
            }
            catch (IOException)
            {
                // Exited between the listing and the read.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return new CpuSnapshot(processes, ReadMachineBusy());
    }

    /// <summary>CPU seconds the given processes used between <paramref name="before"/> and <paramref name="after"/>.</summary>
    /// <param name="before">The earlier snapshot.</param>
    /// <param name="after">The later snapshot.</param>
    /// <param name="member">Which processes belong to the part measured (e.g. by name).</param>
    /// <param name="countReapedChildren">
    /// Add the time of members' children that exited in between: short-lived helpers (PostgreSQL backends, agent
    /// processes) are only visible that way.
    /// </param>
    public static double Used(CpuSnapshot before, CpuSnapshot after, Func<ProcessTimes, bool> member, bool countReapedChildren)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        ArgumentNullException.ThrowIfNull(member);
        var total = 0.0;
        foreach (var process in after.processes.Values.Where(member))
        {
            var earlier = before.processes.GetValueOrDefault(process.Pid);
            var same = earlier is not null && earlier.Name == process.Name;
            total += process.SelfSeconds - (same ? earlier!.SelfSeconds : 0);
            if (countReapedChildren)
                total += process.ReapedChildrenSeconds - (same ? earlier!.ReapedChildrenSeconds : 0);
        }
        if (countReapedChildren)
        {
            // A member that exited in between and was reaped by another member: its whole life is in the parent's
            // reaped time, so take out the part it had already used before the first snapshot.
            foreach (var gone in before.processes.Values.Where(p => !after.processes.ContainsKey(p.Pid) && member(p)))
            {
                if (after.processes.GetValueOrDefault(gone.ParentPid) is { } parent && member(parent))
                    total -= gone.SelfSeconds + gone.ReapedChildrenSeconds;
            }
        }
        return total;
    }

    /// <summary>Children's time reaped by the given processes in between (e.g. a worker's agent processes).</summary>
    public static double ReapedBy(CpuSnapshot before, CpuSnapshot after, IReadOnlySet<int> parents)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        ArgumentNullException.ThrowIfNull(parents);
        return parents.Sum(pid =>
            (after.processes.GetValueOrDefault(pid)?.ReapedChildrenSeconds ?? 0) - (before.processes.GetValueOrDefault(pid)?.ReapedChildrenSeconds ?? 0));
    }

    /// <summary>Pids of the processes that match, e.g. to notice that a service restarted in between.</summary>
    public IReadOnlySet<int> Pids(Func<ProcessTimes, bool> member) => processes.Values.Where(member).Select(p => p.Pid).ToHashSet();

    /// <summary>The processes that used the most CPU in between, with their seconds.</summary>
    public static IReadOnlyList<(int Pid, string Name, double Seconds)> Busiest(CpuSnapshot before, CpuSnapshot after, int count)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        return after.processes.Values
            .Select(p => (p.Pid, p.Name, Seconds: p.SelfSeconds - (before.processes.GetValueOrDefault(p.Pid)?.SelfSeconds ?? 0)))
            .OrderByDescending(p => p.Seconds)
            .Take(count)
            .ToList();
    }

    static ProcessTimes? Parse(int pid, string stat)
    {
        // "pid (comm) state ppid ..."; comm may contain spaces and parentheses, so split after the last ')'.
        var open = stat.IndexOf('(', StringComparison.Ordinal);
        var close = stat.LastIndexOf(')');
        if (open < 0 || close < open)
            return null;
        var name = stat[(open + 1)..close];
        var fields = stat[(close + 2)..].Split(' ');
        // fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
        if (fields.Length < 15)
            return null;
        double Ticks(int field) => double.Parse(fields[field - 3], CultureInfo.InvariantCulture) / TicksPerSecond;
        return new ProcessTimes(pid, int.Parse(fields[4 - 3], CultureInfo.InvariantCulture), name,
            Ticks(14) + Ticks(15), Ticks(16) + Ticks(17));
    }

    static double ReadMachineBusy()
    {
        // Busy = elapsed × cores − idle − iowait. /proc/stat's user, system and the rest are sampled at the scheduler
        // tick, and a CPU that sleeps between ticks (NO_HZ) misses bursts that start and end in between (a tenth of the
        // time at W6's pace; docs/benchmarks.md). Idle and iowait are counted on entering and leaving the idle state, so
        // they are exact, and the rest of the time was busy.
        var elapsed = Stopwatch.GetElapsedTime(0).TotalSeconds;
        var cores = 0;
        var idle = 0.0;
        foreach (var line in File.ReadLines("/proc/stat"))
        {
            if (!line.StartsWith("cpu", StringComparison.Ordinal))
                break;
            // "cpu  user nice system idle iowait irq ..." for the whole machine, then one "cpuN ..." line per online CPU.
            var values = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (values[0] == "cpu")
                idle = (double.Parse(values[4], CultureInfo.InvariantCulture) + double.Parse(values[5], CultureInfo.InvariantCulture)) / TicksPerSecond;
            else
                cores++;
        }
        return elapsed * cores - idle;
    }
}
