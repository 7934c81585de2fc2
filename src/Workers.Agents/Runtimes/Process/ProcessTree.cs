using System.Globalization;
using System.Runtime.InteropServices;

namespace Workers.Agents.Runtimes;

/// <summary>
/// Linux processes read from <c>/proc</c> and signalled with kill(2), so a stopped agent's processes get SIGTERM (a chance
/// to clean up) before SIGKILL. <see cref="System.Diagnostics.Process.Kill(bool)"/> alone sends no SIGTERM, and cannot reach
/// descendants once their parent has exited and they were re-parented; a process group can.
/// </summary>
internal static partial class ProcessTree
{
    public const int SigTerm = 15;
    public const int SigKill = 9;

    /// <summary>A process, told apart from a later one that reuses its id by its start time.</summary>
    public readonly record struct Member(int Pid, long StartTime);

    private readonly record struct Stat(int Pid, char State, int ParentPid, int GroupId, long StartTime)
    {
        // A zombie has finished: it only waits to be reaped (and may never be, if PID 1 does not reap).
        public bool Running => State is not ('Z' or 'X' or 'x');
    }

    /// <summary>
    /// Whether the kernel lists each thread's children (<c>/proc/PID/task/TID/children</c>, in every distribution kernel):
    /// a tree is then read in as many files as it has processes, not by scanning every process on the machine, which
    /// matters when many agents stop at once.
    /// </summary>
    private static readonly bool ChildrenListed = OperatingSystem.IsLinux()
        && File.Exists($"/proc/{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}/task/{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}/children");

    /// <summary><paramref name="rootPid"/> and every process descending from it, the root first; empty when the root is gone.</summary>
    public static List<Member> Snapshot(int rootPid) => ChildrenListed ? SnapshotFromChildLists(rootPid) : SnapshotFromScan(rootPid);

    private static List<Member> SnapshotFromChildLists(int rootPid)
    {
        var tree = new List<Member>();
        if (!TryReadStat(rootPid, out var root))
        {
            return tree;
        }

        tree.Add(new Member(root.Pid, root.StartTime));
        for (var i = 0; i < tree.Count; i++)
        {
            foreach (var child in ChildrenOf(tree[i].Pid))
            {
                if (TryReadStat(child, out var stat))
                {
                    tree.Add(new Member(child, stat.StartTime));
                }
            }
        }

        return tree;
    }

    private static List<int> ChildrenOf(int pid)
    {
        var children = new List<int>();
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/task"))
            {
                foreach (var id in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    if (int.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var child))
                    {
                        children.Add(child);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // It exited while being read: its children, if any, are re-parented and out of this tree anyway.
        }

        return children;
    }

    private static List<Member> SnapshotFromScan(int rootPid)
    {
        var children = new Dictionary<int, List<Member>>();
        Member? root = null;
        foreach (var stat in ScanAll())
        {
            var member = new Member(stat.Pid, stat.StartTime);
            if (stat.Pid == rootPid)
            {
                root = member;
            }

            if (!children.TryGetValue(stat.ParentPid, out var siblings))
            {
                children[stat.ParentPid] = siblings = [];
            }

            siblings.Add(member);
        }

        var tree = new List<Member>();
        if (root is { } found)
        {
            tree.Add(found);
            for (var i = 0; i < tree.Count; i++)
            {
                if (children.TryGetValue(tree[i].Pid, out var descendants))
                {
                    tree.AddRange(descendants);
                }
            }
        }

        return tree;
    }

    /// <summary>True while any process of group <paramref name="groupId"/> or any of <paramref name="members"/> still runs.</summary>
    /// <remarks>
    /// Cheapest first: the known members (one file each), then whether the group has any process at all (one system call);
    /// only a group that still has one, possibly a zombie nobody reaps, costs a scan of every process.
    /// </remarks>
    public static bool AnyRunning(int? groupId, IReadOnlyCollection<Member> members) =>
        members.Any(member => TryReadStat(member.Pid, out var stat) && stat.StartTime == member.StartTime && stat.Running)
        || (groupId is { } group && GroupExists(group) && ScanAll().Any(stat => stat.GroupId == group && stat.Running));

    /// <summary>True if any process (a zombie included) is in group <paramref name="groupId"/>: one system call, no scan.</summary>
    public static bool GroupExists(int groupId) => Kill(-groupId, 0) == 0;

    public static void SignalGroup(int groupId, int signal) => _ = Kill(-groupId, signal);

    /// <summary>Sends <paramref name="signal"/> to each member still alive (and still the same process).</summary>
    public static void Signal(IEnumerable<Member> members, int signal)
    {
        foreach (var member in members)
        {
            if (TryReadStat(member.Pid, out var stat) && stat.StartTime == member.StartTime && stat.Running)
            {
                _ = Kill(member.Pid, signal);
            }
        }
    }

    private static IEnumerable<Stat> ScanAll()
    {
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && TryReadStat(pid, out var stat))
            {
                yield return stat;
            }
        }
    }

    private static bool TryReadStat(int pid, out Stat stat)
    {
        stat = default;
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        // "pid (comm) state ppid pgrp ... starttime ...": comm may hold spaces and parentheses, so parse after the last ')'.
        var close = text.LastIndexOf(')');
        if (close < 0 || close + 2 >= text.Length)
        {
            return false;
        }

        var fields = text[(close + 2)..].Split(' ');
        if (fields.Length < 20
            || fields[0].Length == 0
            || !int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var parentPid)
            || !int.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var groupId)
            || !long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var startTime))
        {
            return false;
        }

        stat = new Stat(pid, fields[0][0], parentPid, groupId, startTime);
        return true;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
