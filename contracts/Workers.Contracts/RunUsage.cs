namespace Workers.Contracts;

/// <summary>Progress counters of an attempt: agent steps, tool calls, tokens and cost.</summary>
public sealed record RunUsage
{
    public int Steps { get; init; }

    public int ToolCalls { get; init; }

    public long InputTokens { get; init; }

    public long OutputTokens { get; init; }

    public decimal CostUsd { get; init; }
}
