namespace Workers.Cli.Output;

/// <summary>
/// A plain-text table: a header row, columns padded to their widest cell, two spaces between columns,
/// no trailing blanks. Control characters in cells become spaces so one row stays one line.
/// </summary>
internal sealed class TextTable
{
    const string Gap = "  ";

    readonly string[] headers;
    readonly bool[] rightAligned;
    readonly List<string[]> rows = [];

    /// <summary>Headers ending in <c>&gt;</c> (e.g. <c>"PRIO&gt;"</c>) are right-aligned columns; the marker is not printed.</summary>
    public TextTable(params string[] headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        rightAligned = [.. headers.Select(h => h.EndsWith('>'))];
        this.headers = [.. headers.Select(h => h.TrimEnd('>'))];
    }

    public int RowCount => rows.Count;

    public TextTable AddRow(params string?[] cells)
    {
        ArgumentNullException.ThrowIfNull(cells);
        if (cells.Length != headers.Length)
            throw new ArgumentException($"expected {headers.Length} cells, got {cells.Length}", nameof(cells));
        rows.Add([.. cells.Select(Clean)]);
        return this;
    }

    public void WriteTo(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var widths = headers.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        WriteRow(writer, headers, widths);
        foreach (var row in rows)
            WriteRow(writer, row, widths);
    }

    public override string ToString()
    {
        using var writer = new StringWriter();
        WriteTo(writer);
        return writer.ToString();
    }

    void WriteRow(TextWriter writer, string[] cells, int[] widths)
    {
        var line = string.Join(Gap, cells.Select((cell, i) => rightAligned[i] ? cell.PadLeft(widths[i]) : cell.PadRight(widths[i])));
        writer.WriteLine(line.TrimEnd());
    }

    static string Clean(string? cell) =>
        string.IsNullOrEmpty(cell) ? "-" : string.Concat(cell.Select(c => char.IsControl(c) ? ' ' : c)).Trim();
}
