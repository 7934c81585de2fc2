using System.Globalization;
using System.Text.RegularExpressions;

namespace Workers.Agents.Definitions;

/// <summary>Durations as people write them in configuration: <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>2h</c>, <c>1d</c>, or <c>hh:mm:ss</c>.</summary>
public static partial class DurationText
{
    public const string Examples = "e.g. 30s, 5m, 2h, 1d, 500ms or 00:05:00";

    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = default;
        if (string.IsNullOrWhiteSpace(text))
            return false;
        var match = Unit().Match(text.Trim());
        if (match.Success)
        {
            var amount = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            var milliseconds = match.Groups[2].Value switch
            {
                "ms" => amount,
                "s" => amount * 1_000,
                "m" => amount * 60_000,
                "h" => amount * 3_600_000,
                _ => amount * 86_400_000,
            };
            if (milliseconds > TimeSpan.MaxValue.TotalMilliseconds)
                return false;
            duration = TimeSpan.FromMilliseconds(milliseconds);
            return true;
        }
        return TimeSpan.TryParse(text.Trim(), CultureInfo.InvariantCulture, out duration) && duration >= TimeSpan.Zero;
    }

    [GeneratedRegex(@"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$", RegexOptions.CultureInvariant)]
    private static partial Regex Unit();
}
