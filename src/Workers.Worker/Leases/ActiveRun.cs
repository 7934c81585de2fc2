using System.Diagnostics;
using Workers.Agents.Runtimes;
using Workers.Contracts;
using Workers.Worker.Activity;

namespace Workers.Worker.Leases;

/// <summary>
/// A run this worker executes under a lease: its fencing token, its own lease clock and its progress counters.
/// The progress doubles as the adapter's event sink.
/// </summary>
public sealed class ActiveRun : IAgentEventSink, IDisposable
{
    readonly CancellationTokenSource _stop = new();
    readonly CancellationTokenSource _abort = new();
    long _leaseDeadlineTimestamp;
    int _steps;
    int _toolCalls;
    long _inputTokens;
    long _outputTokens;
    long _costMicros;
    long _progress;
    StopRequest? _stopped;

    public ActiveRun(Guid runId, int attempt, Guid leaseId, long askedAtTimestamp, TimeSpan leaseDuration, TimeProvider? time = null,
        Action? checkpointWritten = null)
    {
        RunId = runId;
        Attempt = attempt;
        LeaseId = leaseId;
        Log = new AttemptLog(time ?? TimeProvider.System);
        _checkpointWritten = checkpointWritten;
        ExtendLease(askedAtTimestamp, leaseDuration);
    }

    readonly Action? _checkpointWritten;

    /// <summary>The attempt's events not yet sent to the orchestrator.</summary>
    public AttemptLog Log { get; }

    public Guid RunId { get; }
    public int Attempt { get; }
    public Guid LeaseId { get; }

    /// <summary>Fires when the run must stop: cancelled, timed out, lease lost or lapsed, or worker shutting down.</summary>
    public CancellationToken StopToken => _stop.Token;

    /// <summary>
    /// Fires when the run must end at once, without the runtime's grace periods: its lease lapsed on this worker's clock,
    /// so the orchestrator may grant the run elsewhere any moment. Fires before <see cref="StopToken"/>.
    /// </summary>
    public CancellationToken AbortToken => _abort.Token;

    /// <summary>Why the run was stopped, if it was: the first stop wins.</summary>
    public StopRequest? Stopped => Volatile.Read(ref _stopped);

    /// <summary>
    /// The lease runs from when the renewal was asked for (not answered): on the worker's monotonic clock this
    /// is never later than the orchestrator's expiry, so the worker always stops first.
    /// </summary>
    public void ExtendLease(long askedAtTimestamp, TimeSpan leaseDuration)
    {
        var deadline = askedAtTimestamp + (long)(leaseDuration.TotalSeconds * Stopwatch.Frequency);
        long current;
        do
        {
            current = Interlocked.Read(ref _leaseDeadlineTimestamp);
            if (deadline <= current)
                return;
        }
        while (Interlocked.CompareExchange(ref _leaseDeadlineTimestamp, deadline, current) != current);
    }

    public bool LeaseExpired(long nowTimestamp) => nowTimestamp >= LeaseDeadline;

    /// <summary>When the lease lapses on this worker's clock (a <see cref="Stopwatch"/> timestamp).</summary>
    public long LeaseDeadline => Interlocked.Read(ref _leaseDeadlineTimestamp);

    /// <summary>True once the agent has ended and only its result remains to be reported: nothing left to stop.</summary>
    public bool AgentEnded { get; private set; }

    public void MarkAgentEnded() => AgentEnded = true;

    /// <summary>
    /// Stops the run. A lapsed lease (or <paramref name="abort"/>: the orchestrator no longer counts the lease) also aborts it,
    /// even one already stopping for another cause (a cancel still in its grace period): the agent is then killed at once.
    /// </summary>
    public void Stop(StopCause cause, string reason, bool abort = false)
    {
        Interlocked.CompareExchange(ref _stopped, new StopRequest(cause, reason), null);
        // The abort first, so a runtime woken by the stop already sees that there is no time for a grace.
        if (abort || cause == StopCause.LeaseLapsed)
            Cancel(_abort);
        Cancel(_stop);
    }

    /// <summary>Whether the run was aborted (<see cref="AbortToken"/>).</summary>
    public bool Aborted => _abort.IsCancellationRequested;

    static void Cancel(CancellationTokenSource source)
    {
        try
        {
            source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already finished.
        }
    }

    public RunUsage Usage => new()
    {
        Steps = Volatile.Read(ref _steps),
        ToolCalls = Volatile.Read(ref _toolCalls),
        InputTokens = Interlocked.Read(ref _inputTokens),
        OutputTokens = Interlocked.Read(ref _outputTokens),
        CostUsd = Interlocked.Read(ref _costMicros) / 1_000_000m,
    };

    /// <summary>Events the agent has produced so far; the orchestrator's stall timeout watches it grow.</summary>
    public long Progress => Interlocked.Read(ref _progress);

    public HeldLease ToHeldLease() => new() { RunId = RunId, Attempt = Attempt, LeaseId = LeaseId, Usage = Usage, Progress = Progress };

    public void Emit(AgentEvent agentEvent)
    {
        Interlocked.Increment(ref _progress);
        Log.Add(agentEvent, Attempt);
        switch (agentEvent)
        {
            case AgentEvent.Checkpoint:
                _checkpointWritten?.Invoke();
                break;
            case AgentEvent.Usage usage:
                Interlocked.Add(ref _steps, usage.Steps);
                Interlocked.Add(ref _inputTokens, usage.InputTokens);
                Interlocked.Add(ref _outputTokens, usage.OutputTokens);
                Interlocked.Add(ref _costMicros, (long)(usage.CostUsd * 1_000_000m));
                break;
            case AgentEvent.ToolStarted:
                Interlocked.Increment(ref _toolCalls);
                break;
        }
    }

    public void Dispose()
    {
        _stop.Dispose();
        _abort.Dispose();
    }
}

/// <summary>Who stopped a run; decides what its worker reports for the attempt.</summary>
public enum StopCause
{
    /// <summary>The orchestrator: a cancel, a timeout, or a lease it no longer counts held. Reported as cancelled.</summary>
    Orchestrator,

    /// <summary>
    /// The lease lapsed on this worker's own clock, which runs ahead of the orchestrator's, so the orchestrator may still
    /// count it held. Reported as a failed, retryable attempt (<see cref="FailureKinds.LeaseExpired"/>): the same
    /// verdict the orchestrator reaches when it sees the lease expire itself. Never as a cancel, which only a user makes.
    /// </summary>
    LeaseLapsed,

    /// <summary>The worker is shutting down. Reported as handed back, without spending an attempt.</summary>
    Shutdown,
}

/// <summary>Why a run was stopped.</summary>
public sealed record StopRequest(StopCause Cause, string Reason);
