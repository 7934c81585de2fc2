using System.Globalization;
using System.Text;

namespace Workers.Benchmarks;

/// <summary>
/// A performance goal a workload is held to (the medians on this machine). Checked by the report on the headline value of the
/// invocation and on every round apart, so a block says both whether the goal held and how often a single round met it.
/// </summary>
/// <param name="Text">What is required, as the table shows it.</param>
/// <param name="Value">The goal's value in one round; NaN when the round did not measure it.</param>
/// <param name="AtMost">True when the value must not exceed <paramref name="Limit"/>, false when it must reach it.</param>
/// <param name="Limit">The bound.</param>
/// <param name="Decimals">Decimals the value is shown with.</param>
/// <param name="Headline">The invocation's value; by default the median of the rounds' values.</param>
public sealed record Goal(
    string Text,
    Func<IReadOnlyDictionary<Figure, double>, double> Value,
    bool AtMost,
    double Limit,
    int Decimals,
    Func<IReadOnlyList<Dictionary<Figure, double>>, double>? Headline = null)
{
    /// <summary>Whether <paramref name="value"/> meets the goal; false for NaN.</summary>
    public bool Met(double value) => !double.IsNaN(value) && (AtMost ? value <= Limit : value >= Limit);

    /// <summary>The invocation's value: <see cref="Headline"/>, or the median of the rounds' values.</summary>
    public double Of(IReadOnlyList<Dictionary<Figure, double>> rounds)
    {
        ArgumentNullException.ThrowIfNull(rounds);
        return Headline is { } headline ? headline(rounds) : Stats.Summarize(rounds.Select(r => Value(r)))?.Median ?? double.NaN;
    }
}

/// <summary>The goals each workload is held to, and the table the report shows them in.</summary>
public static class Goals
{
    /// <summary>W1's bound: the fleet's runs/s over the MassTransit two-message round trip measured in the same invocation.</summary>
    public const double W1Ratio = 0.5;

    /// <summary>The goals of <paramref name="workload"/> (<c>throughput</c> is W1); none for a workload without any.</summary>
    public static IReadOnlyList<Goal> For(string workload) => workload switch
    {
        "throughput" =>
        [
            new Goal($"fleet runs/s ≥ {W1Ratio} × the MassTransit round trip (per round: that round's runs/s ÷ the floor measured beside it)",
                r => Ratio(r.GetValueOrDefault(Figures.RunsPerSecond, double.NaN), r.GetValueOrDefault(Figures.FloorMassTransit, double.NaN)),
                AtMost: false, W1Ratio, 3,
                rounds => Ratio(Stats.Median(rounds, Figures.RunsPerSecond), Stats.Median(rounds, Figures.FloorMassTransit))),
        ],
        "crash" =>
        [
            new Goal("kill → last in-flight run restarted ≤ 12 s, s", r => r.GetValueOrDefault(CrashFigures.KillToRestart, double.NaN), AtMost: true, 12, 2),
            new Goal("runs lost = 0", r => r.GetValueOrDefault(CrashFigures.Lost, double.NaN), AtMost: true, 0, 0),
            new Goal("runs executed twice at once = 0", r => r.GetValueOrDefault(CrashFigures.Overlapping, double.NaN), AtMost: true, 0, 0),
        ],
        "cancel" =>
        [
            new Goal("cancel request → `Cancelled` p99 ≤ 1 s, ms", r => r.GetValueOrDefault(CancelFigures.CancelledP99, double.NaN), AtMost: true, 1000, 1),
        ],
        "density" =>
        [
            new Goal("no late heartbeat (gaps > 2 × the interval) = 0", r => r.GetValueOrDefault(DensityFigures.LateGaps, double.NaN), AtMost: true, 0, 0),
        ],
        "latency" =>
        [
            new Goal("submit → agent started p50 ≤ 10 ms, ms", r => r.GetValueOrDefault(LatencyFigures.AgentP50, double.NaN), AtMost: true, 10, 1),
            new Goal("submit → agent started p99 ≤ 50 ms, ms", r => r.GetValueOrDefault(LatencyFigures.AgentP99, double.NaN), AtMost: true, 50, 1),
        ],
        _ => [],
    };

    /// <summary>The glossary entry of the goals table.</summary>
    public const string Meaning =
        "**goal**: a performance goal the workload is held to on this machine, as a median. \"This invocation\" is W1's ratio of the " +
        "medians (the ratios table's) or, for the other workloads, the median of the rounds; \"rounds that met it\" checks each round on its own, " +
        "W1's against the MassTransit floor measured in that round. Computed from the figures above, never entered by hand.";

    /// <summary>
    /// The goals table of a block: each goal's value for the invocation, whether it is met, and in how many rounds; empty
    /// when the workload has no goals. A goal nothing measured (W1 without its floor) says so instead of passing or failing.
    /// </summary>
    public static string Table(string workload, IReadOnlyList<Dictionary<Figure, double>> rounds)
    {
        ArgumentNullException.ThrowIfNull(rounds);
        var goals = For(workload);
        if (goals.Count == 0)
            return "";
        var inv = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.AppendLine("| goal (medians on this machine) | this invocation | met | rounds that met it |");
        text.AppendLine("|---|---:|---|---:|");
        foreach (var goal in goals)
        {
            var value = goal.Of(rounds);
            var measured = rounds.Select(r => goal.Value(r)).Where(v => !double.IsNaN(v)).ToList();
            var format = "N" + goal.Decimals.ToString(inv);
            text.AppendLine(double.IsNaN(value)
                ? $"| {goal.Text} | – | not measured | – |"
                : string.Create(inv, $"| {goal.Text} | {value.ToString(format, inv)} | {(goal.Met(value) ? "**yes**" : "**no**")} | {measured.Count(goal.Met)} of {measured.Count} |"));
        }
        return text.ToString();
    }

    static double Ratio(double value, double floor) => double.IsNaN(value) || double.IsNaN(floor) || floor <= 0 ? double.NaN : value / floor;
}
