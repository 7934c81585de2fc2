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

/// <summary>The last lines of a stream, up to a total length; older lines are dropped first.</summary>
internal sealed class OutputTail(int capacity)
{
    private readonly Queue<string> _lines = new();
    private int _length;

    public bool Truncated { get; private set; }

    public bool IsEmpty => _lines.Count == 0;

    public void Add(string line)
    {
        if (line.Length >= capacity)
        {
            Truncated |= line.Length > capacity || _lines.Count > 0;
            _lines.Clear();
            _lines.Enqueue(line[^capacity..]);
            _length = capacity;
            return;
        }

        _lines.Enqueue(line);
        _length += line.Length + 1;
        while (_length > capacity + 1)
        {
            _length -= _lines.Dequeue().Length + 1;
            Truncated = true;
        }
    }

    public override string ToString()
    {
        var text = string.Join('\n', _lines);
        return Truncated ? OutputText.TruncationNote(capacity) + text : text;
    }
}