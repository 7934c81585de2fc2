using System.Globalization;
using System.Text;

namespace Workers.Benchmarks;

/// <summary>
/// W6's runs one by one (<c>--w6-csv</c>), for reading a tail: when each run was published, at what priority, and how long
/// it waited to be accepted and then to start. A burst of late runs at one moment is a stall; late runs of the lowest
/// priorities, spread over many seconds, are a backlog draining. The run id joins a line to the fleet's logs (<c>--keep-logs</c>).
/// </summary>
public static class RunTimesCsv
{
    public const string Header = "round,phase,index,published_unix_ms,priority,intake_ms,accepted_to_start_ms,submit_to_start_ms,dispatch_count,attempt,state,run_id";

    /// <summary>Appends one line per run (the header first when the file is new or empty).</summary>
    /// <param name="path">The CSV file.</param>
    /// <param name="round">The round, from 1.</param>
    /// <param name="firstMeasured">Index of the first measured run; those before it are the warm-up.</param>
    /// <param name="runs">Each run's publish index and row.</param>
    /// <param name="publishedAt">When each run's publish began, by index.</param>
    /// <param name="priorities">Each run's priority, by index.</param>
    /// <param name="cancellationToken">Stops writing.</param>
    public static async Task AppendAsync(string path, int round, int firstMeasured, IEnumerable<(int Index, RunRow Row)> runs,
        DateTimeOffset[] publishedAt, int[] priorities, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(publishedAt);
        ArgumentNullException.ThrowIfNull(priorities);
        var text = new StringBuilder();
        if (!File.Exists(path) || new FileInfo(path).Length == 0)
            text.AppendLine(Header);
        foreach (var (index, row) in runs.OrderBy(r => r.Index))
        {
            var published = publishedAt[index];
            var start = row.StartedAt is { } started
                ? string.Create(CultureInfo.InvariantCulture, $"{(started - row.SubmittedAt).TotalMilliseconds:0.0},{(started - published).TotalMilliseconds:0.0}")
                : ",";
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{round},{(index < firstMeasured ? "warmup" : "measured")},{index},{published.ToUnixTimeMilliseconds()},{priorities[index]}," +
                $"{(row.SubmittedAt - published).TotalMilliseconds:0.0},{start},{row.DispatchCount},{row.Attempt},{row.State},{row.RunId}"));
        }
        await File.AppendAllTextAsync(path, text.ToString(), cancellationToken);
    }
}
