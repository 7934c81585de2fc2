using System.Text;

namespace Workers.Agents.Runtimes;

/// <summary>Splits a child's output into lines without trusting it: a line longer than the limit is cut, never buffered whole.</summary>
internal static class LineReader
{
    private const int ChunkSize = 16 * 1024;

    /// <summary>
    /// Calls <paramref name="onLine"/> for every line until end of stream (a last line without a newline included).
    /// Characters past <paramref name="maxLineLength"/> in one line are dropped; a trailing <c>\r</c> is removed.
    /// </summary>
    public static async Task ReadLinesAsync(TextReader reader, int maxLineLength, Action<string> onLine, CancellationToken cancellationToken)
    {
        var buffer = new char[ChunkSize];
        var line = new StringBuilder();
        var cut = false;
        int read;
        while ((read = await reader.ReadAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false)) > 0)
        {
            var chunk = buffer.AsMemory(0, read);
            while (!chunk.IsEmpty)
            {
                var newline = chunk.Span.IndexOf('\n');
                var segment = newline < 0 ? chunk.Span : chunk.Span[..newline];
                if (!cut)
                {
                    var room = maxLineLength - line.Length;
                    cut = segment.Length > room;
                    line.Append(cut ? segment[..room] : segment);
                }

                if (newline < 0)
                {
                    break;
                }

                onLine(Complete(line));
                line.Clear();
                cut = false;
                chunk = chunk[(newline + 1)..];
            }
        }

        if (line.Length > 0)
        {
            onLine(Complete(line));
        }
    }

    private static string Complete(StringBuilder line)
    {
        if (line.Length > 0 && line[^1] == '\r')
        {
            line.Length--;
        }

        return line.ToString();
    }
}
