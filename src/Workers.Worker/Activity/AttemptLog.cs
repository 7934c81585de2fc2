using System.Globalization;
using Workers.Agents.Runtimes;
using Workers.Contracts;

namespace Workers.Worker.Activity;

/// <summary>
/// The events of one attempt not yet sent to the orchestrator, numbered in the order the agent produced them, and the
/// newest checkpoint. Bounded: past <see cref="MaxPending"/> unsent events the oldest are dropped and the gap is logged.
/// </summary>
public sealed class AttemptLog(TimeProvider time)
{
    /// <summary>Longest text sent per event.</summary>
    public const int MaxText = 8 * 1024;

    /// <summary>Unsent events kept while the broker is unreachable.</summary>
    public const int MaxPending = 5_000;

    readonly Lock _lock = new();

    /// <summary>Held while a batch of this attempt is being sent, so a final flush waits for one already in flight.</summary>
    public SemaphoreSlim Sending { get; } = new(1, 1);

    readonly LinkedList<RunEvent> _pending = new();
    long _sequence;
    long _dropped;
    RunCheckpoint? _checkpoint;

    /// <summary>Set when a checkpoint is waiting: it is sent at once rather than with the next batch.</summary>
    public bool HasCheckpoint
    {
        get
        {
            lock (_lock)
                return _checkpoint is not null;
        }
    }

    public bool HasPending
    {
        get
        {
            lock (_lock)
                return _pending.Count > 0 || _checkpoint is not null;
        }
    }

    public void Add(AgentEvent agentEvent, int attempt)
    {
        var (type, text, tool, callId, isError) = Describe(agentEvent);
        lock (_lock)
        {
            if (agentEvent is AgentEvent.Checkpoint checkpoint)
                _checkpoint = new RunCheckpoint { Attempt = attempt, Step = checkpoint.Step, State = checkpoint.State };
            _pending.AddLast(new RunEvent
            {
                Sequence = ++_sequence,
                At = time.GetUtcNow(),
                Type = type,
                Text = text is null ? null : Cap(text),
                Tool = tool,
                CallId = callId,
                IsError = isError,
            });
            while (_pending.Count > MaxPending)
            {
                _pending.RemoveFirst();
                _dropped++;
            }
        }
    }

    /// <summary>Takes everything unsent. Give it back with <see cref="Restore"/> if sending fails.</summary>
    public (IReadOnlyList<RunEvent> Events, RunCheckpoint? Checkpoint) Take()
    {
        lock (_lock)
        {
            var events = new List<RunEvent>(_pending.Count + 1);
            if (_dropped > 0)
            {
                events.Add(new RunEvent
                {
                    Sequence = ++_sequence,
                    At = time.GetUtcNow(),
                    Type = "log",
                    Text = string.Create(CultureInfo.InvariantCulture, $"{_dropped} events were dropped while the orchestrator could not be reached"),
                });
                _dropped = 0;
            }
            events.AddRange(_pending);
            _pending.Clear();
            var checkpoint = _checkpoint;
            _checkpoint = null;
            return (events, checkpoint);
        }
    }

    /// <summary>Puts back what could not be sent, ahead of anything newer.</summary>
    public void Restore(IReadOnlyList<RunEvent> events, RunCheckpoint? checkpoint)
    {
        ArgumentNullException.ThrowIfNull(events);
        lock (_lock)
        {
            for (var i = events.Count - 1; i >= 0; i--)
                _pending.AddFirst(events[i]);
            if (checkpoint is not null && (_checkpoint is null || _checkpoint.Step < checkpoint.Step))
                _checkpoint = checkpoint;
            while (_pending.Count > MaxPending)
            {
                _pending.RemoveFirst();
                _dropped++;
            }
        }
    }

    static (string Type, string? Text, string? Tool, string? CallId, bool IsError) Describe(AgentEvent agentEvent) => agentEvent switch
    {
        AgentEvent.Message m => ("message", m.Text, null, null, false),
        AgentEvent.ToolStarted t => ("tool-started", t.Input, t.Tool, t.CallId, false),
        AgentEvent.ToolCompleted t => ("tool-completed", t.Output, t.Tool, t.CallId, t.IsError),
        AgentEvent.Usage u => ("usage", string.Create(CultureInfo.InvariantCulture,
            $"steps +{u.Steps}, tokens in +{u.InputTokens}, out +{u.OutputTokens}, cost +${u.CostUsd:0.######}"), null, null, false),
        AgentEvent.Log l => ("log", l.Text, null, null, false),
        AgentEvent.Checkpoint c => ("checkpoint", string.Create(CultureInfo.InvariantCulture, $"saved progress after step {c.Step} ({c.State.Length:N0} characters)"),
            null, null, false),
        AgentEvent.Resumed r => ("resumed", string.Create(CultureInfo.InvariantCulture,
            $"resumed from the checkpoint attempt {r.FromAttempt} saved after step {r.FromStep}"), null, null, false),
        _ => ("log", agentEvent.ToString(), null, null, false),
    };

    static string Cap(string text) => text.Length <= MaxText ? text : string.Concat(text.AsSpan(0, MaxText), "… [truncated]");
}
