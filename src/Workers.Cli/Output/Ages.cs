using System.Globalization;

namespace Workers.Cli.Output;

/// <summary>Times as people read them in a terminal: "12s", "5m ago", "in 30s".</summary>
internal static class Ages
{
    /// <summary>The compact span for table columns: <c>45s</c>, <c>12m</c>, <c>3h</c>, <c>4d</c>.</summary>
    public static string Short(TimeSpan span)
    {
        if (span < TimeSpan.Zero)
            span = span.Negate();
        return span switch
        {
            { TotalMinutes: < 1 } => Format($"{(int)span.TotalSeconds}s"),
            { TotalHours: < 1 } => Format($"{(int)span.TotalMinutes}m"),
            { TotalDays: < 2 } => Format($"{(int)span.TotalHours}h"),
            _ => Format($"{(int)span.TotalDays}d"),
        };
    }

    /// <summary>How long ago <paramref name="at"/> was (clock skew into the future reads as <c>0s</c>).</summary>
    public static string Since(DateTimeOffset at, DateTimeOffset now) => Short(at > now ? TimeSpan.Zero : now - at);

    /// <summary>A relative phrase: <c>just now</c>, <c>5m ago</c>, <c>in 30s</c>.</summary>
    public static string Relative(DateTimeOffset at, DateTimeOffset now)
    {
        var span = now - at;
        if (span.Duration() < TimeSpan.FromSeconds(1))
            return "just now";
        return span > TimeSpan.Zero ? $"{Short(span)} ago" : $"in {Short(span)}";
    }

    /// <summary>An absolute UTC time with its relative phrase: <c>2025-01-02 10:11:12Z (5m ago)</c>.</summary>
    public static string Describe(DateTimeOffset at, DateTimeOffset now) =>
        $"{at.UtcDateTime.ToString("u", CultureInfo.InvariantCulture)} ({Relative(at, now)})";

    /// <summary>A duration with one decimal under a minute (<c>2.1s</c>), else like <see cref="Short"/> with the next unit (<c>3m12s</c>).</summary>
    public static string Duration(TimeSpan span)
    {
        if (span < TimeSpan.Zero)
            span = TimeSpan.Zero;
        return span switch
        {
            { TotalMinutes: < 1 } => Format($"{span.TotalSeconds:0.0}s"),
            { TotalHours: < 1 } => Format($"{(int)span.TotalMinutes}m{span.Seconds:00}s"),
            _ => Format($"{(int)span.TotalHours}h{span.Minutes:00}m"),
        };
    }

    static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
