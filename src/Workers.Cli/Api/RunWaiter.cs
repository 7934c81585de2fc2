using Workers.Orchestrator.Api;
using Workers.Runs.StateMachine;

namespace Workers.Cli.Api;

/// <summary>Polls one run until it reaches a terminal state, reporting each state it is seen in.</summary>
internal sealed class RunWaiter(ApiClient api, TimeProvider time, TimeSpan pollInterval)
{
    /// <summary>
    /// How long a just-submitted run may answer 404: the API accepts a submission before the saga has stored the
    /// run, so the first polls can race it.
    /// </summary>
    public static readonly TimeSpan NotFoundGrace = TimeSpan.FromSeconds(10);

    /// <summary>The newest view seen, for reporting where a run was when waiting stopped.</summary>
    public RunView? Last { get; private set; }

    /// <summary>Returns the run once terminal; <paramref name="onChange"/> sees each new state (and the terminal one).</summary>
    public async Task<RunView> WaitAsync(Guid runId, Action<RunView>? onChange, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        while (true)
        {
            var run = await TryGetAsync(runId, started, cancellationToken).ConfigureAwait(false);
            if (run is not null)
            {
                var changed = Last is null || Last.State != run.State || Last.Attempt != run.Attempt;
                Last = run;
                if (changed)
                    onChange?.Invoke(run);
                if (RunStates.IsTerminal(run.State))
                    return run;
            }
            await Task.Delay(pollInterval, time, cancellationToken).ConfigureAwait(false);
        }
    }

    async Task<RunView?> TryGetAsync(Guid runId, long started, CancellationToken cancellationToken)
    {
        try
        {
            return await api.GetRunAsync(runId, cancellationToken).ConfigureAwait(false);
        }
        catch (ApiProblemException e) when (e.Status == 404 && Last is null && time.GetElapsedTime(started) < NotFoundGrace)
        {
            return null;
        }
    }
}
