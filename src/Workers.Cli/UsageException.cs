namespace Workers.Cli;

/// <summary>A command line that parsed but cannot be acted on; the message tells the user what to change.</summary>
internal sealed class UsageException(string message) : Exception(message);
