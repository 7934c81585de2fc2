using System.Globalization;

using Workers.Contracts;
using Workers.Orchestrator.Api;

namespace Workers.Cli.Output;

/// <summary>The human text for runs and workers; every time is shown relative to <c>now</c>.</summary>
internal static class RunText
{
    /// <summary>The <c>runs list</c> table.</summary>
    public static TextTable RunsTable(IEnumerable<RunView> runs, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var table = new TextTable("ID", "STATE", "AGENT", "RUNTIME", "PRIO>", "ATTEMPT", "WORKER", "AGE>", "UPDATED>");
        foreach (var run in runs)
        {
            table.AddRow(
                run.RunId.ToString(),
                run.State,
                run.Agent,
                run.Runtime,
                Number(run.Priority),
                Attempt(run),
                run.WorkerId,
                Ages.Since(run.SubmittedAt, now),
                Ages.Since(run.UpdatedAt, now));
        }
        return table;
    }

    static string Status(WorkerView worker, DateTimeOffset now) =>
        worker.Status
        + (worker.Draining ? ", draining" : "")
        + (worker.MailboxDownSince is { } down ? $", mailbox down {Ages.Since(down, now)}" : "");

    /// <summary>The <c>workers</c> table.</summary>
    public static TextTable WorkersTable(IEnumerable<WorkerView> workers, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(workers);
        var table = new TextTable("WORKER", "HOST", "STATUS", "RUNTIMES", "BUSY>", "UP>", "SEEN>");
        foreach (var worker in workers)
        {
            table.AddRow(
                worker.WorkerId,
                worker.HostName,
                Status(worker, now),
                string.Join(',', worker.Runtimes),
                $"{Number(worker.ActiveRuns)}/{Number(worker.Slots)}",
                Ages.Since(worker.StartedAt, now),
                Ages.Since(worker.LastSeenAt, now));
        }
        return table;
    }

    /// <summary>Below the workers table: each runtime a worker cannot offer, what is missing and where to read how to fix it.</summary>
    public static void WriteUnavailable(TextWriter writer, IEnumerable<WorkerView> workers)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(workers);
        var lines = workers.SelectMany(w => w.Unavailable.Select(u => $"  {w.WorkerId}: {u.Runtime}: {u.Problem}{(u.HelpUrl is null ? "" : $" ({u.HelpUrl})")}")).ToList();
        if (lines.Count == 0)
            return;
        writer.WriteLine();
        writer.WriteLine("Runtimes not offered (prerequisite missing):");
        foreach (var line in lines)
            writer.WriteLine(line);
    }

    /// <summary>Every field of one run, one per line, then the input, output and error as indented blocks.</summary>
    public static void WriteDetails(TextWriter writer, RunView run, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(run);

        var fields = new List<(string Name, string? Value)>
        {
            ("Run", run.RunId.ToString()),
            ("State", run.State),
            ("Agent", run.Agent),
            ("Runtime", run.Runtime),
            ("Priority", Number(run.Priority)),
            ("Attempt", run.MaxAttempts > 0 ? $"{Number(run.Attempt)} of {Number(run.MaxAttempts)}" : Number(run.Attempt)),
            ("Tenant", run.Tenant),
            ("Labels", run.Labels is { Count: > 0 } labels ? string.Join(", ", labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")) : null),
            ("Worker", run.WorkerId),
            ("Submitted", Ages.Describe(run.SubmittedAt, now)),
            ("Started", run.StartedAt is { } started ? Ages.Describe(started, now) : null),
            ("Finished", run.FinishedAt is { } finished ? Ages.Describe(finished, now) : null),
            ("Took", run is { StartedAt: { } s, FinishedAt: { } f } ? Ages.Duration(f - s) : null),
            ("Lease until", run.LeaseExpiresAt is { } lease ? Ages.Describe(lease, now) : null),
            ("Next attempt", run.NextAttemptAt is { } next ? Ages.Describe(next, now) : null),
            ("Deadline", run.DeadlineAt is { } deadline ? Ages.Describe(deadline, now) : null),
            ("Timeouts", Timeouts(run.Limits)),
            ("Waiting", run.WaitingReason),
            ("Error kind", run.ErrorKind),
            ("Updated", Ages.Describe(run.UpdatedAt, now)),
            ("Usage", Usage(run.Usage)),
        };

        var width = fields.Max(f => f.Name.Length) + 2;
        foreach (var (name, value) in fields.Where(f => !string.IsNullOrEmpty(f.Value)))
            writer.WriteLine($"{(name + ":").PadRight(width)}{value}");

        WriteBlock(writer, "Input", run.Input);
        WriteBlock(writer, "Output", run.Output);
        WriteBlock(writer, "Error", run.Error);
        WriteArtifacts(writer, run.Artifacts);
    }

    /// <summary>The workspace's record: base commit, files changed, diff summary, commands, hand-off.</summary>
    static void WriteArtifacts(TextWriter writer, RunArtifacts? artifacts)
    {
        if (artifacts is null)
            return;
        if (!string.IsNullOrEmpty(artifacts.BaseCommit))
            writer.WriteLine($"Base commit: {artifacts.BaseCommit}");
        if (artifacts.FilesChanged.Count == 0)
            writer.WriteLine("Files changed: none");
        else
            WriteBlock(writer, "Files changed", string.Join('\n', artifacts.FilesChanged));
        WriteBlock(writer, "Diff summary", artifacts.DiffSummary);
        WriteBlock(writer, "Commands", string.Join('\n', artifacts.Commands.Select(c => "$ " + c.ReplaceLineEndings(" "))));
        WriteBlock(writer, "Hand-off", artifacts.HandOff);
    }

    /// <summary>The timeouts a run has, e.g. <c>start-to-close 00:30:00, stall 00:05:00</c>; null when it has none.</summary>
    static string? Timeouts(Workers.Contracts.RunLimits? limits)
    {
        if (limits is null)
            return null;
        var parts = new List<string>();
        void Add(string name, TimeSpan? value)
        {
            if (value is { } v)
                parts.Add(string.Create(CultureInfo.InvariantCulture, $"{name} {v:c}"));
        }
        Add("schedule-to-start", limits.ScheduleToStartTimeout);
        Add("start-to-close", limits.StartToCloseTimeout);
        Add("schedule-to-close", limits.ScheduleToCloseTimeout);
        Add("stall", limits.StallTimeout);
        return parts.Count == 0 ? null : string.Join(", ", parts);
    }

    /// <summary>One line of progress: <c>Running (attempt 1 of 3, worker w-1)</c>.</summary>
    public static string StateLine(RunView run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var facts = new List<string>();
        if (run.Attempt > 0)
            facts.Add(run.MaxAttempts > 0 ? $"attempt {Number(run.Attempt)} of {Number(run.MaxAttempts)}" : $"attempt {Number(run.Attempt)}");
        if (!string.IsNullOrEmpty(run.WorkerId))
            facts.Add($"worker {run.WorkerId}");
        return facts.Count == 0 ? run.State : $"{run.State} ({string.Join(", ", facts)})";
    }

    /// <summary>Text cut to <paramref name="max"/> characters on one line, for table cells.</summary>
    public static string Clip(string? text, int max)
    {
        if (string.IsNullOrEmpty(text))
            return "";
        var line = string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).Trim();
        return line.Length <= max ? line : string.Concat(line.AsSpan(0, max - 3), "...");
    }

    static string Usage(RunUsageView? usage)
    {
        if (usage is null)
            return "";
        var parts = new List<string>
        {
            Plural(usage.Steps, "step"),
            Plural(usage.ToolCalls, "tool call"),
            $"{usage.InputTokens.ToString("N0", CultureInfo.InvariantCulture)} in / {usage.OutputTokens.ToString("N0", CultureInfo.InvariantCulture)} out tokens",
        };
        if (usage.CostUsd > 0)
            parts.Add(usage.CostUsd.ToString("$0.0000", CultureInfo.InvariantCulture));
        return string.Join(", ", parts);
    }

    static void WriteBlock(TextWriter writer, string title, string? text)
    {
        if (string.IsNullOrEmpty(text))
            return;
        writer.WriteLine($"{title}:");
        foreach (var line in text.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n'))
            writer.WriteLine(line.Length == 0 ? "" : "  " + line);
    }

    static string Attempt(RunView run) =>
        run.MaxAttempts > 0 ? $"{Number(run.Attempt)}/{Number(run.MaxAttempts)}" : Number(run.Attempt);

    static string Plural(int count, string noun) => $"{Number(count)} {noun}{(count == 1 ? "" : "s")}";

    static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);
}
