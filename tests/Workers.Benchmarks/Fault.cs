using System.Diagnostics;
using System.Globalization;

using MassTransit;

using Workers.Contracts;
using Workers.Testing;

namespace Workers.Benchmarks;

/// <summary>What the crash and cancel workloads share: a bus, a warm-up run, waiting, pids.</summary>
static class Fault
{
    /// <summary>Starts a producer bus on the fleet's vhost and sends one noop run through the whole path (JIT, connections).</summary>
    public static async Task<IBusControl> StartBusAndWarmUpAsync(BenchFleet fleet, RunDatabase database, CancellationToken cancellationToken)
    {
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(fleet.Vhost.AmqpUrl));
        await bus.StartAsync(cancellationToken);
        try
        {
            var warmUp = NewId.NextGuid();
            await bus.Publish(new SubmitRun { RunId = warmUp, Agent = BenchFleet.Agent, Input = "warm-up" }, cancellationToken);
            await WaitAsync(() => database.IsTerminalAsync(warmUp, cancellationToken), fleet, null, TimeSpan.FromSeconds(60), "the warm-up run", cancellationToken);
            return bus;
        }
        catch
        {
            await bus.StopAsync(CancellationToken.None);
            throw;
        }
    }

    /// <summary>
    /// The frame of a round on its own fleet: starts it, opens the database, starts the producer bus with a warm-up run, then
    /// <paramref name="measure"/>; stops the bus; keeps the process logs if the round failed.
    /// </summary>
    public static async Task<Dictionary<Figure, double>> InFleetAsync(BenchmarkOptions options, HostBuild hosts, string workload, int round, int workerCount,
        int slots, TextWriter progress, Func<BenchFleet, RunDatabase, IBus, Task<Dictionary<Figure, double>>> measure, CancellationToken cancellationToken)
    {
        progress.WriteLine($"{workload} round {round}: starting the fleet (orchestrator + {workerCount} worker(s) × {slots} slots)");
        await using var fleet = await BenchFleet.StartAsync(hosts, workerCount, slots, cancellationToken);
        fleet.KeepDirectory = options.KeepLogs;
        try
        {
            await using var database = await RunDatabase.OpenAsync(fleet.Database, cancellationToken);
            var bus = await StartBusAndWarmUpAsync(fleet, database, cancellationToken);
            try
            {
                return await measure(fleet, database, bus);
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            fleet.KeepDirectory = true;
            progress.WriteLine($"{workload} round {round} failed; process logs kept in {fleet.Directory}");
            throw;
        }
    }

    /// <summary>Publishes a SubmitRun per id, 16 at a time.</summary>
    public static async Task SubmitAsync(IBus bus, IReadOnlyList<Guid> ids, string agent, CancellationToken cancellationToken)
    {
        foreach (var chunk in ids.Chunk(16))
            await Task.WhenAll(chunk.Select(id => bus.Publish(new SubmitRun { RunId = id, Agent = agent, Input = "bench" }, cancellationToken)));
    }

    public static async Task WaitAsync(Func<Task<bool>> condition, BenchFleet fleet, ManagedProcess? killed, TimeSpan timeout, string what,
        CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            fleet.ThrowIfAnyExited(killed);
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"{what} did not happen within {timeout.TotalSeconds:0} s");
            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>Wall clock in Unix nanoseconds, as <c>date +%s%N</c> writes it.</summary>
    public static long UnixNs(DateTimeOffset time) => (time - DateTimeOffset.UnixEpoch).Ticks * 100;

    /// <summary>Whether a process is gone (no /proc entry, or a zombie waiting to be reaped).</summary>
    public static bool IsGone(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..];
            return state.StartsWith('Z') || state.StartsWith('X');
        }
        catch (IOException)
        {
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return true;
        }
    }

    public static List<double> Sorted(IEnumerable<double> values)
    {
        var list = values.ToList();
        list.Sort();
        return list;
    }
}
