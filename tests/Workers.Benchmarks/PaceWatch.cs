using System.Diagnostics;

namespace Workers.Benchmarks;

/// <summary>
/// Tells when W6's fresh fleet keeps pace: once a second, whether every run published more than <see cref="Lag"/> ago has
/// started. A cold fleet falls behind while its processes compile, and at a pace near its capacity the backlog it built
/// drains slowly (the spare capacity a second is all it drains by); the lowest priorities wait longest, since every new
/// run of a higher one goes ahead of them. Measuring before the backlog is gone would measure the cold start again.
/// </summary>
/// <param name="database">The round's database (the benchmark's own connection; one query a second).</param>
/// <param name="ids">The runs, in publish order.</param>
/// <param name="publishedAt">When each run's publish began; set before <see cref="Published"/> counts it.</param>
/// <param name="clock">The pacing clock, started at the first publish.</param>
/// <param name="minimum">The warm-up's minimum: no verdict before it.</param>
public sealed class PaceWatch(RunDatabase database, Guid[] ids, DateTimeOffset[] publishedAt, Stopwatch clock, TimeSpan minimum)
{
    /// <summary>How late a run may start and still count as on time.</summary>
    public static readonly TimeSpan Lag = TimeSpan.FromSeconds(1);

    int published;
    long keptPaceTicks = -1;

    /// <summary>When (on the pacing clock) every run published until <see cref="Lag"/> before had started; null until then.</summary>
    public TimeSpan? KeptPaceAt => Interlocked.Read(ref keptPaceTicks) is >= 0 and var ticks ? TimeSpan.FromTicks(ticks) : null;

    /// <summary>The first <paramref name="count"/> runs have been published.</summary>
    public void Published(int count) => Volatile.Write(ref published, count);

    /// <summary>Checks once a second until the fleet keeps pace or <paramref name="cancellationToken"/> ends the warm-up.</summary>
    public async Task WatchAsync(CancellationToken cancellationToken)
    {
        var late = new List<Guid>();
        var checkedUpTo = 0;
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                var now = clock.Elapsed;
                var due = DateTimeOffset.UtcNow - Lag;
                var count = Volatile.Read(ref published);
                while (checkedUpTo < count && publishedAt[checkedUpTo] <= due)
                    late.Add(ids[checkedUpTo++]);
                late = await database.NotStartedAsync(late, cancellationToken);
                if (late.Count == 0 && now >= minimum)
                {
                    Interlocked.Exchange(ref keptPaceTicks, now.Ticks);
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }
}
