using System.Globalization;

namespace Workers.Agents.Runtimes;

/// <summary>Keeps text that an agent controls within bounds.</summary>
internal static class OutputText
{
    /// <summary>The start of <paramref name="text"/>, cut to <paramref name="max"/> characters with a note saying how much was dropped.</summary>
    public static string Head(string text, int max) =>
        text.Length <= max
            ? text
            : string.Create(CultureInfo.InvariantCulture, $"{text.AsSpan(0, max)}… [{text.Length - max} more characters]");

    /// <summary>The end of <paramref name="text"/>, cut to <paramref name="max"/> characters with a note that the start was dropped.</summary>
    public static string Tail(string text, int max) =>
        text.Length <= max ? text : TruncationNote(max) + text[^max..];

    public static string TruncationNote(int kept) =>
        string.Create(CultureInfo.InvariantCulture, $"[output truncated: only the last {kept} characters are kept]\n");
}

/// <summary>The last characters of a stream of lines, up to a total length; the oldest text is dropped first.</summary>
internal sealed class OutputTail(int capacity)
{
    private readonly LinkedList<string> _lines = new();

    // The length of the lines joined by '\n': one separator fewer than lines.
    private long _length = -1;

    public bool Truncated { get; private set; }

    public void Add(string line)
    {
        _lines.AddLast(line);
        _length += line.Length + 1;
        while (_length > capacity)
        {
            var oldest = _lines.First!;
            var excess = _length - capacity;
            if (oldest.Value.Length + 1 <= excess)
            {
                _lines.RemoveFirst();
                _length -= oldest.Value.Length + 1;
            }
            else
            {
                // Cut the oldest line from its start so exactly the last `capacity` characters remain.
                oldest.Value = oldest.Value[(int)excess..];
                _length -= excess;
            }

            Truncated = true;
        }
    }

    public override string ToString()
    {
        var text = string.Join('\n', _lines);
        return Truncated ? OutputText.TruncationNote(capacity) + text : text;
    }
}
