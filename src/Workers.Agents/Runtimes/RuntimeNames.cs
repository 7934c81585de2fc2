namespace Workers.Agents.Runtimes;

/// <summary>The runtime names the fleet knows.</summary>
public static class RuntimeNames
{
    public const string Process = "process";

    /// <summary>Every runtime the fleet has an adapter for.</summary>
    public static IReadOnlyList<string> All { get; } = [Process];
}
