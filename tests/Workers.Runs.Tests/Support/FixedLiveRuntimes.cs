using Workers.Runs.Routing;

namespace Workers.Runs.Tests.Support;

/// <summary>A fixed set of runtimes offered by live workers.</summary>
public sealed class FixedLiveRuntimes(params string[] runtimes) : ILiveRuntimes
{
    public IReadOnlySet<string> Offered { get; } = runtimes.ToHashSet(StringComparer.Ordinal);
}
