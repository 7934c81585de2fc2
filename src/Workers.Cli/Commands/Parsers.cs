using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Workers.Cli.Commands;

/// <summary>
/// Option and argument parsers that fail at parse time with a message saying what a good value looks like,
/// so a bad value exits with <see cref="ExitCodes.Usage"/> before anything is sent.
/// </summary>
internal static class Parsers
{
    /// <summary>An integer within [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static Option<int?> WithRange(this Option<int?> option, int min, int max = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(option);
        var expected = max == int.MaxValue ? $"a whole number of at least {min}" : $"a whole number from {min} to {max}";
        option.CustomParser = result =>
        {
            var text = result.Tokens[^1].Value;
            if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
                return value;
            result.AddError($"{option.Name} '{text}' is not valid: expected {expected}");
            return null;
        };
        return option;
    }

    // Far beyond any real wait, and far enough below TimeSpan.MaxValue that FromSeconds cannot overflow.
    const double MaxSeconds = 1e9;

    /// <summary>A positive number of seconds, fractions allowed.</summary>
    public static Option<double?> Seconds(this Option<double?> option)
    {
        ArgumentNullException.ThrowIfNull(option);
        option.CustomParser = result =>
        {
            var text = result.Tokens[^1].Value;
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value is > 0 and <= MaxSeconds)
                return value;
            result.AddError($"{option.Name} '{text}' is not valid: expected a number of seconds greater than 0, e.g. 30 or 1.5");
            return null;
        };
        return option;
    }

    /// <summary>A run id: the GUID that <c>submit</c> printed.</summary>
    public static Guid RunId(ArgumentResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var text = result.Tokens[^1].Value;
        if (Guid.TryParse(text, out var id))
            return id;
        result.AddError($"'{text}' is not a run id: expected a GUID such as 3f2a1c9e-5b7d-4e0f-9a61-0c2b8d4e7f10");
        return Guid.Empty;
    }

    /// <summary>Checks that every <c>--label</c> is <c>key=value</c> with a non-empty key, each key once.</summary>
    public static void ValidateLabels(OptionResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var token in result.Tokens)
        {
            if (!TrySplitLabel(token.Value, out var key, out _))
                result.AddError($"--label '{token.Value}' is not valid: expected key=value, e.g. --label team=search");
            else if (!seen.Add(key))
                result.AddError($"--label '{key}' is given more than once");
        }
    }

    /// <summary>Splits <c>key=value</c> at the first '=' (values may contain more).</summary>
    public static bool TrySplitLabel(string text, out string key, out string value)
    {
        ArgumentNullException.ThrowIfNull(text);
        var at = text.IndexOf('=', StringComparison.Ordinal);
        key = at > 0 ? text[..at].Trim() : "";
        value = at > 0 ? text[(at + 1)..] : "";
        return key.Length > 0;
    }
}
