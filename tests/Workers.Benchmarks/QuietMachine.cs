using System.Globalization;

namespace Workers.Benchmarks;

/// <summary>
/// Waits until the machine is nearly idle before a measurement: on a shared 2-core box, someone else's build or test
/// run would otherwise be in the figures.
/// </summary>
public static class QuietMachine
{
    static readonly TimeSpan Sample = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Samples the machine's busy cores every 2 s until they drop below <paramref name="threshold"/> or
    /// <paramref name="patience"/> runs out (then it goes ahead, and says so). Returns the last sample, in cores.
    /// </summary>
    public static async Task<double> WaitAsync(double threshold, TimeSpan patience, string before, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(progress);
        var waited = TimeSpan.Zero;
        TimeSpan? lastReport = null;
        while (true)
        {
            var first = CpuSnapshot.Take();
            await Task.Delay(Sample, cancellationToken);
            var second = CpuSnapshot.Take();
            var busy = (second.MachineBusySeconds - first.MachineBusySeconds) / Sample.TotalSeconds;
            if (busy < threshold)
                return busy;
            if (waited >= patience)
            {
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"warning: the machine is still busy ({busy:0.00} cores) after {patience.TotalSeconds:0} s; measuring {before} anyway"));
                return busy;
            }
            if (lastReport is null || waited - lastReport >= TimeSpan.FromSeconds(20))
            {
                lastReport = waited;
                var top = string.Join(", ", CpuSnapshot.Busiest(first, second, 3).Select(p => string.Create(CultureInfo.InvariantCulture,
                    $"{p.Name} (pid {p.Pid}) {p.Seconds / Sample.TotalSeconds:0.00}")));
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"waiting for a quiet machine before {before}: {busy:0.00} cores busy; busiest: {top}"));
            }
            waited += Sample;
        }
    }
}
