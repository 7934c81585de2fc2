using System.Runtime.InteropServices;

using Workers.Benchmarks;

if (args.Length > 0 && args[0] == AgentFloor.Verb)
    return await AgentFloor.RunAsync(args, Console.Out);

BenchmarkOptions options;
try
{
    if (args.Contains("--help") || args.Contains("-h"))
    {
        Console.WriteLine(BenchmarkOptions.Usage);
        return 0;
    }
    options = BenchmarkOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}\n{BenchmarkOptions.Usage}");
    return 2;
}

Defaults.ApplyServiceEnvironment();

// Ctrl+C or SIGTERM cancels the round; the fleet's processes, vhost and database are removed on the way out.
using var cancellation = new CancellationTokenSource();
void Stop(PosixSignalContext context)
{
    context.Cancel = true;
    Console.Error.WriteLine("stopping: cleaning up the fleet, vhost and database…");
    cancellation.Cancel();
}
using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

try
{
    return await BenchmarkRunner.RunAsync(options, Console.Out, Console.Error, cancellation.Token);
}
catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
{
    Console.Error.WriteLine("stopped.");
    return 130;
}
