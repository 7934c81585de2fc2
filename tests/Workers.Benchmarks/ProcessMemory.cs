using System.Globalization;

namespace Workers.Benchmarks;

/// <summary>Resident memory from /proc: one process, and the processes below it.</summary>
public static class ProcessMemory
{
    /// <summary><c>VmRSS</c> of a process in bytes; 0 if it is gone.</summary>
    public static long Rss(int pid) => Field($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/status", "VmRSS:");

    /// <summary>Proportional set size (<c>Pss</c> of <c>smaps_rollup</c>) in bytes: shared pages split among their users; 0 if it is gone.</summary>
    public static long Pss(int pid) => Field($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/smaps_rollup", "Pss:");

    /// <summary>A "Name:   123 kB" line of a /proc file, in bytes.</summary>
    static long Field(string path, string name)
    {
        try
        {
            foreach (var line in File.ReadLines(path))
            {
                if (line.StartsWith(name, StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(name.Length).Trim().TrimEnd("kB").Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return 0;
    }

    /// <summary>Every live process whose parent chain leads to <paramref name="root"/> (not the root itself).</summary>
    public static List<int> Descendants(int root)
    {
        var parents = new Dictionary<int, int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid))
                continue;
            try
            {
                // "pid (comm) state ppid ...": the name may hold spaces and parentheses, so parse after the last ')'.
                var stat = File.ReadAllText(Path.Combine(directory, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ', 3);
                parents[pid] = int.Parse(fields[1], NumberStyles.Integer, CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        var children = parents.GroupBy(p => p.Value, p => p.Key).ToDictionary(g => g.Key, g => g.ToList());
        var found = new List<int>();
        var pending = new Stack<int>([root]);
        while (pending.Count > 0)
        {
            if (!children.TryGetValue(pending.Pop(), out var below))
                continue;
            foreach (var child in below)
            {
                found.Add(child);
                pending.Push(child);
            }
        }
        return found;
    }
}
