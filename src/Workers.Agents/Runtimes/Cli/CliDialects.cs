namespace Workers.Agents.Runtimes.Cli;

/// <summary>Every CLI dialect, by runtime name.</summary>
internal static class CliDialects
{
    public static IReadOnlyList<CliDialect> All { get; } =
        [ClaudeCodeDialect.Instance, CodexDialect.Instance, GeminiDialect.Instance, CursorDialect.Instance];

    public static CliDialect? Find(string runtime) => All.FirstOrDefault(d => d.Runtime == runtime);
}
