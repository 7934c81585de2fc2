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
/// Claims dispatched attempts for this worker with at most <see cref="RequestsInFlight"/> requests in flight
/// (<see cref="InFlightBatches{T}"/>): claims made while they are leave together in the next <see cref="ClaimRuns"/>. An idle worker claims with no added
/// delay; a busy one sends one request (and gets one answer, and costs the orchestrator one commit) for all the
/// dispatches it took meanwhile.
/// </summary>
public sealed partial class ClaimBatcher
{
    /// <summary>Most claims in one request (the orchestrator judges up to 256 per request).</summary>
    public const int MaxClaimsPerRequest = 128;

    /// <summary>
    /// Claim requests in flight at once. One: a second in flight did not lower W6's dispatch latency on this machine
    /// (p50 29-74 ms against 18-53 ms with one, at 146 runs/s) and halves the batches.
    /// </summary>
    public const int RequestsInFlight = 1;

    readonly InFlightBatches<PendingClaim> _claims;
    readonly IRequestClient<ClaimRuns> _client;
    readonly IBus _bus;
    readonly WorkerIdentity _identity;
    readonly IOptions<WorkerOptions> _options;
    readonly ILogger<ClaimBatcher> _logger;

    public ClaimBatcher(IBus bus, WorkerIdentity identity, IOptions<WorkerOptions> options, ILogger<ClaimBatcher> logger)
    {
        ArgumentNullException.ThrowIfNull(bus);
        // Created from the bus, not injected: request clients are scoped, this batcher lives as long as the worker.
        _client = bus.CreateRequestClient<ClaimRuns>();
        _bus = bus;
        _identity = identity;
        _options = options;
        _logger = logger;
        _claims = new InFlightBatches<PendingClaim>(RequestsInFlight, _ => MaxClaimsPerRequest, SendAsync);
    }

    /// <summary>Asks for the lease on <paramref name="attempt"/> of <paramref name="runId"/>. Never throws; never cancelled by shutdown.</summary>
    public Task<ClaimAnswer> ClaimAsync(Guid runId, int attempt)
    {
        var pending = new PendingClaim(new RunClaim { RunId = runId, Attempt = attempt, ClaimId = NewId.NextGuid() });
        _claims.Add(pending);
        return pending.Answer.Task;
    }

    async Task SendAsync(List<PendingClaim> batch)
    {
        try
        {
            var request = new ClaimRuns { WorkerId = _identity.WorkerId, WorkerAddress = _bus.Address, Claims = batch.ConvertAll(p => p.Claim) };
            // Not cancelled by shutdown: once sent, the leases may be granted, and a granted lease must be run (or handed back
            // by the drain), never dropped to lapse; the request has its own timeout.
            var response = await _client.GetResponse<RunsClaimed>(request, x => x.UseExecute(context => context.TrySetPriority(RunQueues.LifecyclePriority)),
                CancellationToken.None, RequestTimeout.After(ms: (int)_options.Value.ClaimTimeout.TotalMilliseconds)).ConfigureAwait(false);
            Answer(batch, response.Message);
        }
        catch (RequestTimeoutException)
        {
            // The runs stay queued; the orchestrator's re-dispatch timer sends them again.
            LogNoAnswer(_logger, batch.Count, "no answer in time");
            AnswerNone(batch);
        }
#pragma warning disable CA1031 // A broker outage fails the request like a timeout: the dispatches are dropped and sent again later.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            LogNoAnswer(_logger, batch.Count, ex.Message);
            AnswerNone(batch);
        }
    }

    /// <summary>
    /// Matches the answer to the claims by run and attempt, in order: two copies of one dispatch in a batch get the lease
    /// once and a refusal once, whichever copy each goes to.
    /// </summary>
    static void Answer(List<PendingClaim> batch, RunsClaimed answer)
    {
        var granted = Queues(answer.Granted ?? [], g => (g.RunId, g.Attempt));
        var refused = Queues(answer.Rejected ?? [], r => (r.RunId, r.Attempt));
        foreach (var pending in batch)
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

    static void AnswerNone(List<PendingClaim> batch)
    {
        foreach (var pending in batch)
            pending.Answer.TrySetResult(default);
    }

    sealed record PendingClaim(RunClaim Claim)
    {
        public TaskCompletionSource<ClaimAnswer> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "A claim request for {Count} run(s) got no answer ({Reason}); they will be dispatched again")]
    static partial void LogNoAnswer(ILogger logger, int count, string reason);
}
