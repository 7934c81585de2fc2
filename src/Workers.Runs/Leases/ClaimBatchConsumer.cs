using MassTransit;
using Workers.Contracts;
using Workers.Runs.Persistence;
using Workers.Runs.StateMachine;
using Workers.ServiceDefaults.Messaging;

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
        var ids = judged.Select(c => c.RunId).Concat(successes.Select(r => r.RunId)).ToHashSet();
        var runs = await store.LoadManyForUpdateAsync(ids, !context.IsFirstTry(), context.CancellationToken).ConfigureAwait(false);
        var decided = Decide(request, judged, successes, runs);
        // A copy of a row may justify a write (the write's version check catches a stale one), never the lack of one.
        if (decided.Unwritten.Exists(store.IsCopy))
        {
            runs = await store.ReadAgainAsync(runs, context.CancellationToken).ConfigureAwait(false);
            decided = Decide(request, judged, successes, runs);
        }
        foreach (var extra in claims.Skip(MaxClaims).Where(c => c is not null))
            decided.Refused.Add(RunLifecycle.ClaimRefused(extra.RunId, extra.Attempt, "Unknown", $"more than {MaxClaims} claims in one request; claim it again"));

        await store.UpdateAllAsync(decided.Changed, context.CancellationToken).ConfigureAwait(false);
        await WorkerMailboxes.RespondAsync(context, new RunsClaimed { Granted = decided.Granted, Rejected = decided.Refused }).ConfigureAwait(false);
    }

    Decisions Decide(ClaimRuns request, List<RunClaim> claims, List<RunSucceeded> successes, Dictionary<Guid, RunState> runs)
    {
        var decided = new Decisions();
        // The successes first, so a claim of a run that one of them has just ended is refused.
        SuccessBatchConsumer.Keep(lifecycle, successes, runs, decided.Changed, decided.Unwritten);
        foreach (var claim in claims)
        {
            if (!runs.TryGetValue(claim.RunId, out var run))
            {
                decided.Refused.Add(RunLifecycle.UnknownRunClaimRejected(claim.RunId, claim.Attempt));
                continue;
            }
            var verdict = ClaimJudge.Judge(run, claim.Attempt, claim.ClaimId);
            switch (verdict.Outcome)
            {
                case ClaimOutcome.Grant:
                    lifecycle.GrantLease(run, claim.ClaimId, request.WorkerId, request.WorkerAddress);
                    run.CurrentState = RunStates.Running;
                    decided.Changed.Add(run);
                    decided.Granted.Add(lifecycle.Claimed(run));
                    break;
                case ClaimOutcome.Reaffirm:
                    decided.Unwritten.Add(run);
                    decided.Granted.Add(lifecycle.Claimed(run));
                    break;
                default:
                    decided.Unwritten.Add(run);
                    decided.Refused.Add(RunLifecycle.ClaimRefused(run, claim.Attempt, verdict.Reason));
                    break;
            }
        }
        return decided;
    }

    /// <summary>What one pass over the rows decided: the rows to write, the answers, and the rows judged without a write.</summary>
    sealed class Decisions
    {
        public List<RunClaimed> Granted { get; } = [];
        public List<ClaimRejected> Refused { get; } = [];
        public List<RunState> Changed { get; } = [];
        public List<RunState> Unwritten { get; } = [];
    }
}
