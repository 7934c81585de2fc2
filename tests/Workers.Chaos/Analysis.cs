using System.Globalization;
using System.Text.Json.Serialization;

namespace Workers.Chaos;

/// <summary>The checks of one scenario run.</summary>
public sealed record ScenarioResult
{
    public required string Scenario { get; init; }
    public required DateTimeOffset MeasuredAt { get; init; }
    public required int Runs { get; init; }
    public required int NeverAccepted { get; init; }
    public required List<string> Lost { get; init; }
    public required List<string> Overlapping { get; init; }
    public required List<string> Duplicates { get; init; }
    public required List<string> SucceededTwice { get; init; }
    public required List<string> NonSucceeded { get; init; }
    public required List<string> Faults { get; init; }
    public required List<string> FirstStartAfterFault { get; init; }
    public double? AllTerminalAfterLastFaultSeconds { get; init; }
    public int Executions { get; init; }
    public int KilledExecutions { get; init; }
    public int Retried { get; init; }

    /// <summary>Runs whose attempts beyond the first counted against their budget (a handed-back attempt does not count).</summary>
    public int SpentAnAttempt { get; init; }

    /// <summary>Each run that needed more than one attempt: how many, how many were handed back, and its last error.</summary>
    public List<string> RetriedRuns { get; init; } = [];
    public string? FaultError { get; init; }

    [JsonIgnore]
    public bool Healthy => Lost.Count == 0 && Overlapping.Count == 0;

    /// <summary>The "time to recover" cell: fault → first start after it (each fault), and last fault → all terminal.</summary>
    [JsonIgnore]
    public string Recovery =>
        string.Join(", ", FirstStartAfterFault) + " / all terminal " +
        (AllTerminalAfterLastFaultSeconds is { } s ? $"{s:0.0} s" : "never");

    public void Print(Action<string> log)
    {
        log($"  runs {Runs} (+{NeverAccepted} never accepted by the API), executions {Executions} ({KilledExecutions} killed), runs retried {Retried} ({SpentAnAttempt} spending an attempt)");
        log($"  lost {Lost.Count}, overlapping {Overlapping.Count}, duplicates {Duplicates.Count}, succeeded twice {SucceededTwice.Count}");
        foreach (var (name, list) in new[] { ("lost", Lost), ("overlapping", Overlapping), ("duplicate", Duplicates), ("succeeded twice", SucceededTwice), ("not succeeded", NonSucceeded), ("retried", RetriedRuns) })
        {
            foreach (var item in list.Take(20))
                log($"    {name}: {item}");
            if (list.Count > 20)
                log($"    … {list.Count - 20} more {name}");
        }
        log($"  time to recover: {Recovery}");
    }
}

public static class Analysis
{
    public static ScenarioResult Check(string scenario, List<Guid> submitted, List<Guid> refused, List<RunRow> rows, List<Execution> executions,
        List<Fault> faults, DateTimeOffset? allTerminalAt, string? faultError)
    {
        var byId = rows.ToDictionary(r => r.RunId);
        var lost = new List<string>();
        foreach (var id in submitted)
        {
            if (!byId.TryGetValue(id, out var row))
                lost.Add($"{id}: no row in the runs table");
            else if (!row.Terminal)
                lost.Add($"{id}: still {row.State} (attempt {row.Attempt}, worker {row.WorkerId ?? "-"}, last error {row.LastError ?? "-"})");
        }
        // A run the API never accepted is not owed to anyone, but if it has a row it must still finish.
        foreach (var id in refused.Where(byId.ContainsKey).Where(id => !byId[id].Terminal))
            lost.Add($"{id}: never accepted by the API, yet has a row stuck in {byId[id].State}");

        var overlapping = new List<string>();
        var duplicates = new List<string>();
        var succeededTwice = new List<string>();
        foreach (var group in executions.GroupBy(e => e.RunId))
        {
            var list = group.OrderBy(e => e.StartNs).ToList();
            for (var i = 0; i < list.Count; i++)
            {
                for (var j = i + 1; j < list.Count; j++)
                {
                    if (list[j].StartNs < list[i].IntervalEndNs)
                    {
                        overlapping.Add($"{group.Key}: attempt {list[i].Attempt} (pid {list[i].Pid}, {Describe(list[i])}) and attempt {list[j].Attempt} (pid {list[j].Pid}, {Describe(list[j])}) overlap by {Overlap(list[i], list[j])}");
                    }
                }
            }
            var completed = list.Where(e => e.Completed).ToList();
            if (completed.Count > 1)
            {
                var attempts = string.Join(", ", completed.Select(e => e.Attempt.ToString(CultureInfo.InvariantCulture)));
                var why = byId.TryGetValue(group.Key, out var final) ? $"; row: {final.State} at attempt {final.Attempt} on {final.WorkerId ?? "-"}, last error: {final.LastError ?? "-"}" : "";
                duplicates.Add($"{group.Key}: ran to its end {completed.Count} times (attempts {attempts}){why}");
                if (byId.TryGetValue(group.Key, out var row) && row.State == "Succeeded" && completed.Select(e => e.Attempt).Distinct().Count() > 1)
                    succeededTwice.Add($"{group.Key}: attempts {attempts} each finished with a result; the row says Succeeded at attempt {row.Attempt}");
            }
        }

        var nonSucceeded = rows.Where(r => r.Terminal && r.State != "Succeeded")
            .Select(r => $"{r.RunId}: {r.State} at attempt {r.Attempt}: {r.LastError ?? "(no reason)"}").ToList();

        var firstStarts = faults.Select(f =>
        {
            var ns = (f.At - DateTimeOffset.UnixEpoch).Ticks * 100;
            var first = executions.Where(e => e.StartNs >= ns).Select(e => (long?)e.StartNs).Min();
            var retry = executions.Where(e => e.StartNs >= ns && e.Attempt > 1).Select(e => (long?)e.StartNs).Min();
            var text = first is { } s ? $"{(s - ns) / 1e9:0.0} s" : "none";
            return retry is { } r ? $"{text} (first retry {(r - ns) / 1e9:0.0} s)" : text;
        }).ToList();
        var lastFault = faults.Count > 0 ? faults.Max(f => f.At) : (DateTimeOffset?)null;

        return new ScenarioResult
        {
            Scenario = scenario,
            MeasuredAt = DateTimeOffset.UtcNow,
            Runs = submitted.Count,
            NeverAccepted = refused.Count,
            Lost = lost,
            Overlapping = overlapping,
            Duplicates = duplicates,
            SucceededTwice = succeededTwice,
            NonSucceeded = nonSucceeded,
            Faults = faults.Select(f => $"{f.Kind} at {f.At:HH:mm:ss.fff}: {f.Detail}").ToList(),
            FirstStartAfterFault = firstStarts,
            AllTerminalAfterLastFaultSeconds = allTerminalAt is { } t && lastFault is { } l ? (t - l).TotalSeconds : null,
            Executions = executions.Count,
            KilledExecutions = executions.Count(e => !e.Completed),
            Retried = rows.Count(r => r.Attempt > 1),
            SpentAnAttempt = rows.Count(r => r.CountedAttempts > 1),
            RetriedRuns = rows.Where(r => r.Attempt > 1)
                .Select(r => $"{r.RunId}: {r.State} at attempt {r.Attempt} ({r.ReleasedAttempts} handed back), last error: {r.LastError ?? "-"}").ToList(),
            FaultError = faultError,
        };
    }

    static string Describe(Execution e) => e.Completed ? "ran to its end" : e.DiedNs is null ? "still running" : "killed";

    static string Overlap(Execution a, Execution b)
    {
        var end = Math.Min(a.IntervalEndNs, b.IntervalEndNs);
        return end == long.MaxValue ? "an unbounded time (one still runs)" : $"{(end - b.StartNs) / 1e9:0.000} s";
    }
}
