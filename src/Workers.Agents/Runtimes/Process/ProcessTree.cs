using System.Globalization;
using System.Runtime.InteropServices;

namespace Workers.Agents.Runtimes;

/// <summary>
/// A Linux process and its descendants, read from <c>/proc</c>, so a cancelled agent's whole tree gets SIGTERM (a chance to
/// clean up) before SIGKILL. <see cref="System.Diagnostics.Process.Kill(bool)"/> alone sends no SIGTERM, and cannot reach
/// descendants once their parent has exited and they were re-parented.
/// </summary>
internal static partial class ProcessTree
{
    public const int SigTerm = 15;
    public const int SigKill = 9;

    /// <summary>A process, told apart from a later one that reuses its id by its start time.</summary>
    public readonly record struct Member(int Pid, long StartTime);

    /// <summary><paramref name="rootPid"/> and every process descending from it, the root first; empty when the root is gone.</summary>
    public static List<Member> Snapshot(int rootPid)
    {
        var children = new Dictionary<int, List<Member>>();
        Member? root = null;
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                || !TryReadStat(pid, out var stat))
            {
                continue;
            }

            var member = new Member(pid, stat.StartTime);
            if (pid == rootPid)
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

    /// <summary>True while the process runs (a zombie has finished: it only waits to be reaped).</summary>
    public static bool IsAlive(Member member) =>
        TryReadStat(member.Pid, out var stat) && stat.StartTime == member.StartTime && stat.State is not ('Z' or 'X' or 'x');

    /// <summary>Sends <paramref name="signal"/> to each member still alive.</summary>
    public static void Signal(IEnumerable<Member> members, int signal)
    {
        foreach (var member in members)
        {
            if (IsAlive(member))
            {
                _ = Kill(member.Pid, signal);
            }
        }
    }

    private static bool TryReadStat(int pid, out (char State, int ParentPid, long StartTime) stat)
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

        // "pid (comm) state ppid ... starttime ...": comm may hold spaces and parentheses, so parse after the last ')'.
        var close = text.LastIndexOf(')');
        if (close < 0 || close + 2 >= text.Length)
        {
            return false;
        }

        var fields = text[(close + 2)..].Split(' ');
        if (fields.Length < 20
            || fields[0].Length == 0
            || !int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var parentPid)
            || !long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var startTime))
        {
            return false;
        }

        stat = (fields[0][0], parentPid, startTime);
        return true;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}