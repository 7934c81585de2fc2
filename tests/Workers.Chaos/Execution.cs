using System.Globalization;

namespace Workers.Chaos;

/// <summary>
/// One execution of the chaos agent, from its log: a <c>start</c> line when it began and an <c>end</c> line if it ran
/// to its end. <see cref="EndNs"/> is null for an execution that was killed; <see cref="DiedNs"/> is when the chaos
/// tool saw its process gone (polled), so killed executions still have an interval for the overlap check.
/// </summary>
public sealed record Execution(Guid RunId, int Attempt, long StartNs, int Pid, long? EndNs, long? DiedNs)
{
    /// <summary>Ran to its end (printed its result).</summary>
    public bool Completed => EndNs is not null;

    /// <summary>The end of the interval it occupied: its logged end, else when it was seen dead, else "still running".</summary>
    public long IntervalEndNs => EndNs ?? DiedNs ?? long.MaxValue;

    /// <summary>Reads the agent's log: <c>start RUN ATTEMPT START_NS PID</c> and <c>end RUN ATTEMPT START_NS END_NS PID</c>.</summary>
    public static List<Execution> Read(string path, IReadOnlyDictionary<int, long> deaths)
    {
        if (!File.Exists(path))
            return [];
        var starts = new Dictionary<(int Pid, long Start), (Guid Run, int Attempt)>();
        var ends = new Dictionary<(int Pid, long Start), long>();
        foreach (var line in File.ReadAllLines(path))
        {
            var p = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (p.Length == 5 && p[0] == "start")
                starts[(Int(p[4]), Long(p[3]))] = (Guid.Parse(p[1]), Int(p[2]));
            else if (p.Length == 6 && p[0] == "end")
                ends[(Int(p[5]), Long(p[3]))] = Long(p[4]);
        }
        return starts.Select(s => new Execution(s.Value.Run, s.Value.Attempt, s.Key.Start, s.Key.Pid,
                ends.TryGetValue(s.Key, out var end) ? end : null,
                deaths.TryGetValue(s.Key.Pid, out var died) ? died : null))
            .OrderBy(e => e.StartNs)
            .ToList();
    }

    /// <summary>Pids of started executions, for the death monitor.</summary>
    public static IEnumerable<int> StartedPids(string path) =>
        !File.Exists(path)
            ? []
            : File.ReadAllLines(path).Select(l => l.Split(' ')).Where(p => p.Length == 5 && p[0] == "start").Select(p => Int(p[4]));

    static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

    static long Long(string s) => long.Parse(s, CultureInfo.InvariantCulture);
}
