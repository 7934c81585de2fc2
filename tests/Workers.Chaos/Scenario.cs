using System.Diagnostics;
using System.Globalization;

namespace Workers.Chaos;

/// <summary>A fault injected at <see cref="At"/>; <see cref="Kind"/> names it in the report.</summary>
public sealed record Fault(string Kind, DateTimeOffset At, string Detail);

/// <summary>What a scenario needs to inject its faults while the load runs.</summary>
public sealed class ScenarioContext(ChaosFleet fleet, DateTimeOffset loadStarted, TimeSpan loadLength, Action<string> log)
{
    public ChaosFleet Fleet { get; } = fleet;
    public List<Fault> Faults { get; } = [];
    public Action<string> Log { get; } = log;

    /// <summary>Waits until <paramref name="fraction"/> of the submission stream has elapsed.</summary>
    public async Task AtLoadFractionAsync(double fraction, CancellationToken cancellationToken)
    {
        var due = loadStarted + loadLength * fraction - DateTimeOffset.UtcNow;
        if (due > TimeSpan.Zero)
            await Task.Delay(due, cancellationToken);
    }

    public void Record(string kind, DateTimeOffset at, string detail)
    {
        Faults.Add(new Fault(kind, at, detail));
        Log($"  fault: {kind} at {at:HH:mm:ss.fff} — {detail}");
    }
}

/// <summary>The chaos scenarios: how many orchestrators, and the faults injected mid-load.</summary>
public sealed record Scenario(string Name, int Orchestrators, bool RestartsServices, Func<ScenarioContext, CancellationToken, Task> InjectAsync)
{
    public static readonly IReadOnlyList<Scenario> All =
    [
        new("kill-worker", 1, false, KillWorkersAsync),
        new("restart-rabbitmq", 1, true, (c, ct) => RestartServiceAsync(c, "rabbitmq-server", ct)),
        new("restart-postgres", 1, true, (c, ct) => RestartServiceAsync(c, "postgresql", ct)),
        new("kill-orchestrator", 2, false, KillOrchestratorsAsync),
    ];

    // kill -9 the busiest worker (its process tree, as a container death would) three times, replacing it each time.
    static async Task KillWorkersAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        foreach (var fraction in new[] { 0.2, 0.5, 0.8 })
        {
            await context.AtLoadFractionAsync(fraction, cancellationToken);
            var running = await context.Fleet.RunningPerWorkerAsync(cancellationToken);
            var victim = context.Fleet.LiveWorkers
                .OrderByDescending(w => running.GetValueOrDefault(ChaosFleet.NameOf(w)))
                .First();
            var at = DateTimeOffset.UtcNow;
            victim.Kill();
            context.Record("kill -9 worker", at, $"{victim.Name} (pid {victim.Pid}, {running.GetValueOrDefault(victim.Name)} runs Running in the table)");
            await victim.WaitForExitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            var replacement = await context.Fleet.StartWorkerAsync(cancellationToken);
            context.Log($"  replacement {replacement.Name} registered {(DateTimeOffset.UtcNow - at).TotalSeconds:0.0} s after the kill");
        }
    }

    static async Task RestartServiceAsync(ScenarioContext context, string service, CancellationToken cancellationToken)
    {
        await context.AtLoadFractionAsync(0.4, cancellationToken);
        await Services.WaitForBenchmarkAsync(context.Log, cancellationToken);
        var at = DateTimeOffset.UtcNow;
        context.Record($"service {service} restart", at, "begun");
        var (code, output) = await Services.RunAsync("service", [service, "restart"], cancellationToken);
        context.Log($"  service {service} restart exited {code} after {(DateTimeOffset.UtcNow - at).TotalSeconds:0.0} s: {output.Trim().Replace('\n', ' ')}");
        context.Record($"service {service} back", DateTimeOffset.UtcNow, $"restart command exited {code}");
        if (code != 0)
            throw new InvalidOperationException($"service {service} restart failed ({code}): {output}");
    }

    // Two orchestrators: kill -9 one mid-load; later kill the other too and start it again.
    static async Task KillOrchestratorsAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        await context.AtLoadFractionAsync(0.3, cancellationToken);
        var first = context.Fleet.LiveOrchestrators[0];
        var at = DateTimeOffset.UtcNow;
        first.Kill();
        context.Record("kill -9 orchestrator", at, $"{first.Name} (pid {first.Pid}); one orchestrator left");
        await first.WaitForExitAsync(TimeSpan.FromSeconds(30), cancellationToken);

        await context.AtLoadFractionAsync(0.6, cancellationToken);
        var second = context.Fleet.LiveOrchestrators[0];
        at = DateTimeOffset.UtcNow;
        second.Kill();
        context.Record("kill -9 orchestrator", at, $"{second.Name} (pid {second.Pid}); none left");
        await second.WaitForExitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        var restarted = Stopwatch.StartNew();
        await context.Fleet.StartOrchestratorAsync("orchestrator-3", cancellationToken);
        context.Log($"  orchestrator-3 ready {restarted.Elapsed.TotalSeconds:0.0} s after the second kill");
    }
}

/// <summary>The machine's services, and the benchmark that shares them.</summary>
public static class Services
{
    /// <summary>Waits (polling every 10 s, up to 10 min) while a <c>workers-bench</c> process runs.</summary>
    public static async Task WaitForBenchmarkAsync(Action<string> log, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var (code, output) = await RunAsync("pgrep", ["-f", "workers-bench"], cancellationToken);
            var pids = string.Join(' ', output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            if (code != 0)
                return;
            if (clock.Elapsed > TimeSpan.FromMinutes(10))
                throw new BenchmarkRunningException($"workers-bench (pid {pids}) still running after 10 min; not restarting shared services.");
            log($"  workers-bench is running (pid {pids}); waiting 10 s before restarting a shared service");
            await Task.Delay(TimeSpan.FromSeconds(10), cancellationToken);
        }
    }

    public static async Task<(int Code, string Output)> RunAsync(string file, IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        var output = await stdout + await stderr;
        return (process.ExitCode, output);
    }
}

/// <summary>A shared service could not be restarted because the benchmark kept running.</summary>
public sealed class BenchmarkRunningException(string message) : Exception(message);
