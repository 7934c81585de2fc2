using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Workers.Contracts;
using Workers.ServiceDefaults.Batching;
using Workers.ServiceDefaults.Messaging;
using Workers.Worker.Execution;

namespace Workers.Worker.Intake;

/// <summary>How a claim was answered: granted, refused, or neither when no answer came in time.</summary>
public readonly record struct ClaimAnswer(RunClaimed? Granted, ClaimRejected? Rejected);

/// <summary>
/// This worker's one line to the orchestrator for claims and successes, with at most <see cref="RequestsInFlight"/> send in
/// flight (<see cref="InFlightBatches{T}"/>). What is made while a send is in flight leaves together in the next one: the
/// claims in one <see cref="ClaimRuns"/>, with the successes riding in it, so a busy worker's claims and results share one
/// message, one answer and one commit. A success with no claim to ride with waits up to <see cref="SuccessPatience"/> for
/// one, then leaves on its own (<see cref="RunSucceeded"/>, or <see cref="RunsSucceeded"/> for several). Claims never
/// wait: an idle worker claims with no added delay.
/// </summary>
public sealed partial class ClaimBatcher
{
    /// <summary>Most claims in one request (the orchestrator judges up to 256 per request).</summary>
    public const int MaxClaimsPerRequest = 128;

    /// <summary>Most successes in one message.</summary>
    public const int MaxSuccessesPerMessage = 64;

    /// <summary>About how much text (output and artifacts, in characters) one message carries; a heavier success goes alone.</summary>
    public const long MaxTextPerMessage = 1024 * 1024;

    /// <summary>
    /// Sends in flight at once. One: a second claim request in flight did not lower W6's dispatch latency on this machine
    /// (p50 29-74 ms against 18-53 ms with one, at 146 runs/s) and halves the batches.
    /// </summary>
    public const int RequestsInFlight = 1;

    /// <summary>
    /// How long a success with no claim to ride with waits for one before it leaves on its own. At a moderate pace most
    /// claim requests carry one claim, and a success that leaves alone costs a message, a delivery and a commit.
    /// </summary>
    public static readonly TimeSpan SuccessPatience = TimeSpan.FromMilliseconds(20);

    readonly InFlightBatches<Pending> _pending;
    readonly MailboxRequestClients _requests;
    readonly WorkerMailbox _mailbox;
    readonly ConfirmedPublisher _publisher;
    readonly WorkerIdentity _identity;
    readonly IOptions<WorkerOptions> _options;
    readonly ILogger<ClaimBatcher> _logger;

    public ClaimBatcher(MailboxRequestClients requests, WorkerMailbox mailbox, ConfirmedPublisher publisher, WorkerIdentity identity, IOptions<WorkerOptions> options, ILogger<ClaimBatcher> logger)
    {
        _requests = requests;
        _mailbox = mailbox;
        _publisher = publisher;
        _identity = identity;
        _options = options;
        _logger = logger;
        _pending = new InFlightBatches<Pending>(RequestsInFlight, CountToTake, SendAsync, p => p is PendingClaim, SuccessPatience);
    }

    /// <summary>Asks for the lease on <paramref name="attempt"/> of <paramref name="runId"/>. Never throws; never cancelled by shutdown.</summary>
    public Task<ClaimAnswer> ClaimAsync(Guid runId, int attempt)
    {
        var pending = new PendingClaim(new RunClaim { RunId = runId, Attempt = attempt, ClaimId = NewId.NextGuid() });
        _pending.Add(pending);
        return pending.Answer.Task;
    }

    /// <summary>
    /// Completes once the broker has <paramref name="success"/> (or the orchestrator has answered the request it rode in);
    /// throws only when it could not for <see cref="ConfirmedPublisher.Patience"/>.
    /// </summary>
    public Task SendSuccessAsync(RunSucceeded success)
    {
        ArgumentNullException.ThrowIfNull(success);
        var pending = new PendingSuccess(success);
        _pending.Add(pending);
        return pending.Confirmed.Task;
    }

    async Task SendAsync(List<Pending> batch)
    {
        var claims = batch.OfType<PendingClaim>().ToList();
        var successes = batch.OfType<PendingSuccess>().ToList();
        if (claims.Count == 0)
        {
            await PublishAsync(successes).ConfigureAwait(false);
            return;
        }
        try
        {
            var request = new ClaimRuns
            {
                WorkerId = _identity.WorkerId,
                WorkerAddress = _mailbox.Address,
                Claims = claims.ConvertAll(p => p.Claim),
                Succeeded = successes.ConvertAll(p => p.Success),
            };
            // Not cancelled by shutdown: once sent, the leases may be granted, and a granted lease must be run (or handed back
            // by the drain), never dropped to lapse; the request has its own timeout.
            LogClaiming(_logger, claims.Count, successes.Count);
            var client = await _requests.GetAsync<ClaimRuns>(CancellationToken.None, _options.Value.ClaimTimeout).ConfigureAwait(false);
            var response = await client.GetResponse<RunsClaimed>(request, x => x.UseExecute(context => context.TrySetPriority(RunQueues.LifecyclePriority)),
                CancellationToken.None, RequestTimeout.After(ms: (int)_options.Value.ClaimTimeout.TotalMilliseconds)).ConfigureAwait(false);
            Answer(claims, response.Message);
            foreach (var pending in successes)
                pending.Confirmed.TrySetResult();
            return;
        }
#pragma warning disable CA1031 // A broker outage fails the request like a timeout: the dispatches are dropped and sent again later.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            // The runs stay queued; the orchestrator's re-dispatch timer sends them again.
            LogNoAnswer(_logger, claims.Count, ex is RequestTimeoutException ? "no answer in time" : ex.Message);
            AnswerNone(claims);
        }
        // Without an answer it is unknown whether the request reached the orchestrator: the successes in it are published
        // again on their own (a copy of a success already kept is ignored), and the send waits only for the broker.
        await PublishAsync(successes).ConfigureAwait(false);
    }

    async Task PublishAsync(List<PendingSuccess> successes)
    {
        if (successes.Count == 0)
            return;
        try
        {
            object message = successes.Count == 1 ? successes[0].Success : new RunsSucceeded { Results = successes.ConvertAll(p => p.Success) };
            await _publisher.PublishAsync(message, successes.Count).ConfigureAwait(false);
            foreach (var pending in successes)
                pending.Confirmed.TrySetResult();
        }
#pragma warning disable CA1031 // Handed to every run of the batch, whose executor logs it.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            foreach (var pending in successes)
                pending.Confirmed.TrySetException(ex);
        }
    }

    /// <summary>How many of the oldest waiting claims and successes fit one send's limits (always at least one).</summary>
    static int CountToTake(IReadOnlyList<Pending> waiting)
    {
        var count = 0;
        var claims = 0;
        var successes = 0;
        long text = 0;
        for (; count < waiting.Count; count++)
        {
            if (waiting[count] is PendingSuccess success)
            {
                var weight = Weight(success.Success);
                if (successes == MaxSuccessesPerMessage || (count > 0 && text + weight > MaxTextPerMessage))
                    break;
                successes++;
                text += weight;
            }
            else if (++claims > MaxClaimsPerRequest)
            {
                break;
            }
        }
        return count;
    }

    static long Weight(RunSucceeded success) =>
        (success.Output?.Length ?? 0) + (success.Artifacts is { } a
            ? (a.DiffSummary?.Length ?? 0) + (a.HandOff?.Length ?? 0) + a.FilesChanged.Sum(f => (long)f.Length) + a.Commands.Sum(c => (long)c.Length)
            : 0);

    /// <summary>
    /// Matches the answer to the claims by run and attempt, in order: two copies of one dispatch in a batch get the lease
    /// once and a refusal once, whichever copy each goes to.
    /// </summary>
    static void Answer(List<PendingClaim> claims, RunsClaimed answer)
    {
        var granted = Queues(answer.Granted ?? [], g => (g.RunId, g.Attempt));
        var refused = Queues(answer.Rejected ?? [], r => (r.RunId, r.Attempt));
        foreach (var pending in claims)
        {
            var key = (pending.Claim.RunId, pending.Claim.Attempt);
            if (granted.TryGetValue(key, out var grants) && grants.TryDequeue(out var grant))
                pending.Answer.TrySetResult(new ClaimAnswer(grant, null));
            else if (refused.TryGetValue(key, out var refusals) && refusals.TryDequeue(out var refusal))
                pending.Answer.TrySetResult(new ClaimAnswer(null, refusal));
            else
                pending.Answer.TrySetResult(default);
        }
    }

    static Dictionary<(Guid, int), Queue<T>> Queues<T>(IEnumerable<T> items, Func<T, (Guid, int)> key)
    {
        var queues = new Dictionary<(Guid, int), Queue<T>>();
        foreach (var item in items)
        {
            if (item is null)
                continue;
            if (!queues.TryGetValue(key(item), out var queue))
                queues[key(item)] = queue = new Queue<T>();
            queue.Enqueue(item);
        }
        return queues;
    }

    static void AnswerNone(List<PendingClaim> claims)
    {
        foreach (var pending in claims)
            pending.Answer.TrySetResult(default);
    }

    abstract record Pending;

    sealed record PendingClaim(RunClaim Claim) : Pending
    {
        public TaskCompletionSource<ClaimAnswer> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    sealed record PendingSuccess(RunSucceeded Success) : Pending
    {
        public TaskCompletionSource Confirmed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    // Debug: one line per claim request, many a second on a busy worker.
    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Claiming {Count} run(s), {Successes} success(es) riding along")]
    static partial void LogClaiming(ILogger logger, int count, int successes);

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "A claim request for {Count} run(s) got no answer ({Reason}); they will be dispatched again")]
    static partial void LogNoAnswer(ILogger logger, int count, string reason);
}
