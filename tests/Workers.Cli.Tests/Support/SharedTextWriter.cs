using System.Text;

namespace Workers.Cli.Tests.Support;

/// <summary>A string writer that several threads may write to while a test reads it (dev writes from its host's threads).</summary>
sealed class SharedTextWriter : TextWriter
{
    readonly StringBuilder text = new();

    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value)
    {
        lock (text)
            text.Append(value);
    }

    public override void Write(string? value)
    {
        lock (text)
            text.Append(value);
    }

    public override void Write(char[] buffer, int index, int count)
    {
        lock (text)
            text.Append(buffer, index, count);
    }

    public override string ToString()
    {
        lock (text)
            return text.ToString();
    }
}
