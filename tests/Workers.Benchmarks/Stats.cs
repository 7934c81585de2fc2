namespace Workers.Benchmarks;

/// <summary>Percentiles within a round, min / median / max across rounds.</summary>
public static class Stats
{
    /// <summary>Nearest rank, as the shared floors compute it: <c>sorted[min(n - 1, floor(p × n))]</c>. NaN when empty.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        return sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];
    }

    /// <summary>Min, median (mean of the middle two for an even count) and max, ignoring NaN; null when nothing is left.</summary>
    public static (double Min, double Median, double Max)? Summarize(IEnumerable<double> values)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        if (sorted.Length == 0)
            return null;
        var middle = sorted.Length / 2;
        var median = sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
        return (sorted[0], median, sorted[^1]);
    }

    /// <summary>The median of <paramref name="figure"/> over the rounds that measured it; NaN when none did.</summary>
    public static double Median(IReadOnlyList<Dictionary<Figure, double>> rounds, Figure figure)
    {
        ArgumentNullException.ThrowIfNull(rounds);
        return Summarize(rounds.Select(r => r.GetValueOrDefault(figure, double.NaN)))?.Median ?? double.NaN;
    }
}
