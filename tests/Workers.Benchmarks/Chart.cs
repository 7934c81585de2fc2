using System.ComponentModel;
using System.Text.Json;

using Workers.Testing;

namespace Workers.Benchmarks;

/// <summary>
/// The chart beside the report: each workload's block in the document carries its figures as a one-line JSON comment, and
/// <c>chart.py</c> (matplotlib) draws <c>benchmarks.png</c> next to the document from all of them, so a workload run on its
/// own still leaves a chart with the others' last figures.
/// </summary>
public static class Chart
{
    /// <summary>Puts the workload's min / median / max per figure into its block, just before the block's end marker.</summary>
    public static void Record(string path, string workload, IReadOnlyList<Dictionary<Figure, double>> rounds, IReadOnlyList<Figure> figures)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(rounds);
        ArgumentNullException.ThrowIfNull(figures);
        var values = new SortedDictionary<string, double[]>(StringComparer.Ordinal);
        foreach (var figure in figures)
        {
            if (Stats.Summarize(rounds.Select(r => r.GetValueOrDefault(figure, double.NaN))) is { } s)
                values[figure.Key] = [Math.Round(s.Min, 3), Math.Round(s.Median, 3), Math.Round(s.Max, 3)];
        }
        var end = workload == "throughput" ? "<!-- workers-bench:end -->" : $"<!-- workers-bench:{workload}:end -->";
        var document = File.ReadAllText(path);
        var at = document.IndexOf(end, StringComparison.Ordinal);
        if (at < 0)
            return;
        var line = $"<!-- workers-bench:{workload}:figures {JsonSerializer.Serialize(values)} -->\n";
        File.WriteAllText(path, document[..at] + line + document[at..]);
    }

    /// <summary>Runs <c>chart.py</c>; without Python or matplotlib it says so and leaves the chart as it was.</summary>
    public static async Task DrawAsync(string path, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(progress);
        var script = Path.Combine(RepoPaths.Root, "tests", "Workers.Benchmarks", "chart.py");
        var png = Path.ChangeExtension(Path.GetFullPath(path), ".png");
        // The distribution's python3 is where `apt-get install python3-matplotlib` puts it; a PATH python3 (pyenv, venv) may lack it.
        foreach (var python in Pythons)
        {
            try
            {
                await using var run = ManagedProcess.Start(python, [script, path, png], new ManagedProcessOptions { Name = "chart.py" });
                var exit = await run.WaitForExitAsync(TimeSpan.FromMinutes(1), cancellationToken);
                if (exit == 0)
                {
                    progress.WriteLine($"wrote {png}");
                    return;
                }
                if (exit != ChartPyNoMatplotlib)
                {
                    progress.WriteLine($"chart: {python} {script} failed (exit {exit}): {run.OutputTail(5)}");
                    return;
                }
            }
            catch (Win32Exception)
            {
            }
        }
        progress.WriteLine($"chart: skipped, no python3 with matplotlib (e.g. apt-get install -y python3-matplotlib); {png} not redrawn");
    }

    static readonly string[] Pythons = ["python3", "/usr/bin/python3"];

    /// <summary>The exit code <c>chart.py</c> uses when it cannot import matplotlib.</summary>
    const int ChartPyNoMatplotlib = 3;
}
