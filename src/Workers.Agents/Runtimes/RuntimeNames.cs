namespace Workers.Agents.Runtimes;

/// <summary>The runtime names the fleet knows.</summary>
public static class RuntimeNames
{
    public const string Process = "process";

    /// <summary>Anthropic's Claude Code CLI (<c>claude</c>).</summary>
    public const string ClaudeCode = "claude-code";

    /// <summary>OpenAI's Codex CLI (<c>codex exec</c>).</summary>
    public const string Codex = "codex";

    /// <summary>Google's Gemini CLI (<c>gemini</c>).</summary>
    public const string Gemini = "gemini";

    /// <summary>The Cursor CLI (<c>cursor-agent</c>).</summary>
    public const string Cursor = "cursor";

    /// <summary>The built-in tool-calling loop (OpenAI-compatible and Anthropic models, workspace and MCP tools).</summary>
    public const string Native = "native";

    /// <summary>Every runtime the fleet has an adapter for.</summary>
    public static IReadOnlyList<string> All { get; } = [Process, ClaudeCode, Codex, Gemini, Cursor, Native];
}
