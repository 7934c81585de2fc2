using MassTransit;
using Workers.Contracts;
using Workers.Runs.Persistence;
using Workers.Runs.StateMachine;

namespace Workers.Runs.Leases;

/// <summary>
/// Grants or refuses a worker's batch of claims with one read and one transaction, and answers them with one message: a
/// busy worker's claims then cost a fraction of a message and a commit each instead of two messages and two commits. The
/// rules are the saga's own (<see cref="ClaimJudge"/>), and every write is guarded by the row's version like the saga's,
/// so a run changed meanwhile (cancelled, its timer moved) sends the whole batch round again on the fresh rows. The
/// successes that ride with the claims are recorded in the same transaction, by <see cref="SuccessBatchConsumer"/>'s rule.
/// </summary>
public sealed class ClaimBatchConsumer(RunStore store, RunLifecycle lifecycle) : IConsumer<ClaimRuns>
{
    /// <summary>Most claims judged from one request; the rest are refused with a reason (a worker sends at most its free slots).</summary>
    public const int MaxClaims = 256;

    public async Task Consume(ConsumeContext<ClaimRuns> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Message;
        var claims = request.Claims ?? [];
        var judged = claims.Take(MaxClaims).Where(c => c is not null).ToList();
        var successes = (request.Succeeded ?? []).Where(r => r is not null).ToList();
        var runs = await store.LoadManyForUpdateAsync(judged.Select(c => c.RunId).Concat(successes.Select(r => r.RunId)).ToHashSet(),
            !context.IsFirstTry(), context.CancellationToken).ConfigureAwait(false);

        var granted = new List<RunClaimed>();
        var refused = new List<ClaimRejected>();
        var changed = new List<RunState>();
        // The successes first, so a claim of a run that one of them has just ended is refused.
        SuccessBatchConsumer.Keep(lifecycle, successes, runs, changed);
        foreach (var claim in judged)
        {
            if (!runs.TryGetValue(claim.RunId, out var run))
            {
                refused.Add(RunLifecycle.UnknownRunClaimRejected(claim.RunId, claim.Attempt));
                continue;
            }
            var verdict = ClaimJudge.Judge(run, claim.Attempt, claim.ClaimId);
            switch (verdict.Outcome)
            {
                case ClaimOutcome.Grant:
                    lifecycle.GrantLease(run, claim.ClaimId, request.WorkerId, request.WorkerAddress);
                    run.CurrentState = RunStates.Running;
                    changed.Add(run);
                    granted.Add(lifecycle.Claimed(run));
                    break;
                case ClaimOutcome.Reaffirm:
                    granted.Add(lifecycle.Claimed(run));
                    break;
                default:
                    refused.Add(RunLifecycle.ClaimRefused(run, claim.Attempt, verdict.Reason));
                    break;
            }
        }
        foreach (var extra in claims.Skip(MaxClaims).Where(c => c is not null))
            refused.Add(RunLifecycle.ClaimRefused(extra.RunId, extra.Attempt, "Unknown", $"more than {MaxClaims} claims in one request; claim it again"));

        await store.UpdateAllAsync(changed, context.CancellationToken).ConfigureAwait(false);
        await context.RespondAsync(new RunsClaimed { Granted = granted, Rejected = refused }).ConfigureAwait(false);
    }
}
