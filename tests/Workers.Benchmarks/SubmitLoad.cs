using System.Diagnostics;

using MassTransit;

using Workers.Contracts;

namespace Workers.Benchmarks;

/// <summary>
/// The producer side of a round: N <see cref="SubmitRun"/> messages published through a MassTransit bus of the
/// benchmark's own, as a client application would, with a fixed number of publishes awaiting their confirm at once.
/// </summary>
public sealed class SubmitLoad
{
    readonly SubmitRun[] runs;
    readonly long[] publishedTicks;

    /// <summary>
    /// Publishes one submission as the README tells producers to: with the run's priority as the message priority, so the
    /// saga's queue admits urgent runs ahead of a backlog of others.
    /// </summary>
    public static Task PublishAsync(IBus bus, SubmitRun run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(bus);
        ArgumentNullException.ThrowIfNull(run);
        return bus.Publish(run, context => context.TrySetPriority((byte)Math.Clamp(run.Priority, 0, 9)), cancellationToken);
    }

    /// <summary>Prepares the runs (ids and random priorities 0-9) so nothing but publishing happens in the timed part.</summary>
    public SubmitLoad(int count)
    {
        runs = new SubmitRun[count];
        for (var i = 0; i < count; i++)
        {
            // Client-chosen ids; NewId's are ordered in time, as MassTransit recommends for keys.
            runs[i] = new SubmitRun { RunId = NewId.NextGuid(), Agent = BenchFleet.Agent, Input = "bench", Priority = Random.Shared.Next(0, 10) };
        }
        publishedTicks = new long[count];
    }

    /// <summary>The runs, in submission order.</summary>
    public IReadOnlyList<SubmitRun> Runs => runs;

    /// <summary>Wall-clock time of the first publish (the start of every timed figure).</summary>
    public DateTimeOffset FirstPublishAt { get; private set; }

    /// <summary>From the first publish to the last publish's confirm.</summary>
    public TimeSpan PublishDuration { get; private set; }

    /// <summary>When the publish of run <paramref name="index"/> started, on the wall clock.</summary>
    public DateTimeOffset PublishedAt(int index) => FirstPublishAt + Stopwatch.GetElapsedTime(publishedTicks[0], publishedTicks[index]);

    /// <summary>Publishes every run through <paramref name="bus"/>; returns once the broker has confirmed all of them.</summary>
    /// <param name="bus">A started bus on the round's vhost.</param>
    /// <param name="inFlight">Publishes awaiting their confirm at once.</param>
    /// <param name="cancellationToken">Stops publishing.</param>
    public async Task PublishAsync(IBus bus, int inFlight, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(bus);
        var next = -1;
        FirstPublishAt = TimeProvider.System.GetUtcNow();
        var start = Stopwatch.GetTimestamp();
        publishedTicks[0] = start;
        var publishers = Enumerable.Range(0, inFlight).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < runs.Length)
            {
                if (i > 0)
                    publishedTicks[i] = Stopwatch.GetTimestamp();
                await PublishAsync(bus, runs[i], cancellationToken);
            }
        });
        await Task.WhenAll(publishers);
        PublishDuration = Stopwatch.GetElapsedTime(start);
    }
}
