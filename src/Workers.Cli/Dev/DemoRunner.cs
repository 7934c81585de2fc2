using System.Globalization;

using Workers.Cli.Api;
using Workers.Cli.Output;
using Workers.Orchestrator.Api;
using Workers.Runs.StateMachine;

namespace Workers.Cli.Dev;

/// <summary>
/// <c>workers dev --demo</c>: submits a few example runs through the API, prints each state change as it is seen,
/// and returns the final views once every run is terminal (or the demo runs out of patience).
/// </summary>
internal sealed class DemoRunner(ApiClient api, TextWriter progress, TimeProvider time, TimeSpan pollInterval)
{
    /// <summary>How long to wait for <c>/health/ready</c> before trying anyway.</summary>
    public static readonly TimeSpan ReadyPatience = TimeSpan.FromSeconds(15);

    /// <summary>How long the demo follows its runs before printing where they got to.</summary>
    public static readonly TimeSpan RunPatience = TimeSpan.FromMinutes(2);

    static readonly Dictionary<string, string> DemoLabels = new() { ["source"] = "demo" };

    /// <summary>Echoes at three priorities, a two-second sleep and a run that fails on purpose.</summary>
    public static IReadOnlyList<SubmitRunRequest> Requests { get; } =
    [
        new() { Agent = "echo", Input = "hello from a priority 1 run", Priority = 1, Labels = DemoLabels },
        new() { Agent = "echo", Input = "hello from a priority 5 run", Priority = 5, Labels = DemoLabels },
        new() { Agent = "echo", Input = "hello from a priority 9 run", Priority = 9, Labels = DemoLabels },
        new() { Agent = "sleep", Input = "2", Priority = 5, Labels = DemoLabels },
        new() { Agent = "fail", Input = "this run fails on purpose", Priority = 5, Labels = DemoLabels },
    ];

    /// <summary>Runs the demo; null when nothing could be submitted (the reason is on <c>progress</c>).</summary>
    public async Task<IReadOnlyList<RunView>?> RunAsync(CancellationToken cancellationToken)
    {
        await WaitUntilReadyAsync(cancellationToken).ConfigureAwait(false);

        var started = time.GetTimestamp();
        var runs = new List<DemoRun>();
        foreach (var request in Requests)
        {
            try
            {
                var accepted = await api.SubmitAsync(request, cancellationToken).ConfigureAwait(false);
                runs.Add(new DemoRun(request, accepted.RunId));
                Report(started, request, accepted.RunId, $"submitted ({accepted.State})");
            }
            catch (ApiProblemException e)
            {
                await progress.WriteLineAsync($"demo: could not submit the {request.Agent} run: {e.Message}").ConfigureAwait(false);
            }
        }
        if (runs.Count == 0)
            return null;

        while (runs.Any(r => !r.IsTerminal) && time.GetElapsedTime(started) < RunPatience)
        {
            foreach (var run in runs.Where(r => !r.IsTerminal))
            {
                RunView view;
                try
                {
                    view = await api.GetRunAsync(run.RunId, cancellationToken).ConfigureAwait(false);
                }
                catch (ApiProblemException e) when (e.Status == 404)
                {
                    continue; // Accepted but not stored yet.
                }
                if (run.Last?.State != view.State || run.Last.Attempt != view.Attempt)
                    Report(started, run.Request, run.RunId, RunText.StateLine(view));
                run.Last = view;
            }
            await Task.Delay(pollInterval, time, cancellationToken).ConfigureAwait(false);
        }

        if (runs.Any(r => !r.IsTerminal))
            await progress.WriteLineAsync($"demo: not every run finished within {RunPatience.TotalMinutes:0} minutes; this is where they are").ConfigureAwait(false);
        return [.. runs.Select(r => r.Last ?? new RunView { RunId = r.RunId, State = "Unknown", Agent = r.Request.Agent ?? "", Priority = r.Request.Priority ?? 0 })];
    }

    /// <summary>The summary: one row per demo run with how it ended.</summary>
    public static TextTable Summary(IEnumerable<RunView> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var table = new TextTable("RUN", "AGENT", "PRIO>", "STATE", "ATTEMPT>", "TOOK>", "RESULT");
        foreach (var run in runs)
        {
            table.AddRow(
                run.RunId.ToString(),
                run.Agent,
                run.Priority.ToString(CultureInfo.InvariantCulture),
                run.State,
                run.Attempt.ToString(CultureInfo.InvariantCulture),
                run is { StartedAt: { } s, FinishedAt: { } f } ? Ages.Duration(f - s) : "",
                RunText.Clip(run.Error ?? run.Output, 50));
        }
        return table;
    }

    async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        while (!await api.IsReadyAsync(cancellationToken).ConfigureAwait(false))
        {
            if (time.GetElapsedTime(started) >= ReadyPatience)
            {
                await progress.WriteLineAsync($"demo: {api.BaseAddress}health/ready did not answer 200 within {ReadyPatience.TotalSeconds:0}s; submitting anyway").ConfigureAwait(false);
                return;
            }
            await Task.Delay(pollInterval, time, cancellationToken).ConfigureAwait(false);
        }
    }

    void Report(long started, SubmitRunRequest request, Guid runId, string what) =>
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"demo {time.GetElapsedTime(started).TotalSeconds,6:0.0}s  {runId}  {request.Agent,-5} p{request.Priority}  {what}"));

    sealed class DemoRun(SubmitRunRequest request, Guid runId)
    {
        public SubmitRunRequest Request { get; } = request;
        public Guid RunId { get; } = runId;
        public RunView? Last { get; set; }
        public bool IsTerminal => Last is not null && RunStates.IsTerminal(Last.State);
    }
}
