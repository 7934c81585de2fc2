using Microsoft.Extensions.Logging;

namespace Workers.Runs.Tests.Support;

/// <summary>A logger that keeps every entry, at every level, for specs about what a component tells its operator.</summary>
public sealed class RecordingLogger<T> : ILogger<T>
{
    readonly Lock _lock = new();
    readonly List<(LogLevel Level, string Message)> _entries = [];

    public IReadOnlyList<(LogLevel Level, string Message)> Entries
    {
        get
        {
            lock (_lock)
                return [.. _entries];
        }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        lock (_lock)
            _entries.Add((logLevel, formatter(state, exception)));
    }
}
