namespace Workers.Cli.Tests.Support;

/// <summary>A clock whose "now" stands still (for relative ages); timers and delays still run in real time.</summary>
sealed class FixedNow(DateTimeOffset now) : TimeProvider
{
    public static readonly DateTimeOffset Default = new(2026, 3, 14, 12, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => now;
}
