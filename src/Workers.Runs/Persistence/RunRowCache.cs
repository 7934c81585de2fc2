using System.Runtime.CompilerServices;
using Workers.Runs.StateMachine;

namespace Workers.Runs.Persistence;

/// <summary>
/// A copy of each live row this orchestrator last wrote, so the next write of that run can skip reading it first: a run's
/// claim and success then cost a write each instead of a read and a write. Safe because every write is guarded by the
/// row's version: a copy some other writer made stale (another orchestrator, or SQL that bumps the version) fails its
/// write like any concurrent change, the copy is dropped, and the retry reads the row.
/// </summary>
/// <remarks>
/// Bounded: the newest <see cref="Capacity"/> rows at most, in two generations (a full one becomes the old one and the
/// old one is dropped), and never rows of ended runs. If copies turn out stale too often (several orchestrators taking
/// turns on the same runs), none is handed out for <see cref="Cooldown"/>: the reads are then cheaper than the failed writes.
/// </remarks>
sealed class RunRowCache
{
    /// <summary>Most rows held (two generations of half of it).</summary>
    public const int Capacity = 8192;

    /// <summary>A row with more text than this (input, spec, output, in characters) is not held.</summary>
    public const int MaxRowText = 64 * 1024;

    /// <summary>Writes from copies judged together; if more than a tenth of them were stale, copies pause.</summary>
    public const int Window = 200;

    public static readonly TimeSpan Cooldown = TimeSpan.FromMinutes(1);

    readonly Lock _lock = new();
    readonly TimeProvider _time;
    readonly Action<int, int>? _paused;
    Dictionary<Guid, RunState> _current = [];
    Dictionary<Guid, RunState> _previous = [];

    // The instances handed out, so a write can tell a copy from a row it read.
    readonly ConditionalWeakTable<RunState, object> _handedOut = [];
    int _writes;
    int _stale;
    DateTimeOffset _pausedUntil = DateTimeOffset.MinValue;

    /// <param name="time">The clock of the pause (the system's by default).</param>
    /// <param name="paused">Told when copies pause: how many of how many writes from them were stale.</param>
    public RunRowCache(TimeProvider? time = null, Action<int, int>? paused = null)
    {
        _time = time ?? TimeProvider.System;
        _paused = paused;
    }

    /// <summary>Whether copies are handed out now (false for <see cref="Cooldown"/> after too many stale ones).</summary>
    public bool Serving
    {
        get
        {
            lock (_lock)
                return !Paused;
        }
    }

    /// <summary>A private copy of the row of <paramref name="runId"/> as last written here, or null.</summary>
    public RunState? Get(Guid runId)
    {
        RunState copy;
        lock (_lock)
        {
            if (Paused || !(_current.TryGetValue(runId, out var held) || _previous.TryGetValue(runId, out held)))
                return null;
            copy = held.Copy();
        }
        _handedOut.AddOrUpdate(copy, _handedOut);
        return copy;
    }

    /// <summary>Whether <paramref name="run"/> is a copy handed out by <see cref="Get"/> (and not written or checked since).</summary>
    public bool IsHandedOut(RunState run) => _handedOut.TryGetValue(run, out _);

    /// <summary>
    /// A handed-out copy was compared with its row, read again: stale if the row's version moved on (or the row is gone,
    /// <paramref name="rowVersion"/> null), and then dropped.
    /// </summary>
    public void Checked(RunState copy, int? rowVersion)
    {
        lock (_lock)
        {
            var stale = rowVersion != copy.Version;
            Judge(copy, stale);
            if (stale)
                Drop(copy.CorrelationId);
        }
    }

    /// <summary>The rows were written as they are now: hold a copy of each (ended runs are let go).</summary>
    public void Written(IEnumerable<RunState> runs)
    {
        lock (_lock)
        {
            foreach (var run in runs)
            {
                Judge(run, stale: false);
                if (RunStates.IsTerminal(run.CurrentState) || Text(run) > MaxRowText)
                {
                    Drop(run.CorrelationId);
                    continue;
                }
                if (_current.Count >= Capacity / 2 && !_current.ContainsKey(run.CorrelationId))
                {
                    _previous = _current;
                    _current = new Dictionary<Guid, RunState>(Capacity / 2);
                }
                _previous.Remove(run.CorrelationId);
                _current[run.CorrelationId] = run.Copy();
            }
        }
    }

    /// <summary>
    /// A write of these rows failed, because <paramref name="stale"/> had changed or the database failed: their copies are
    /// dropped (the retry reads the rows).
    /// </summary>
    public void Failed(IEnumerable<RunState> runs, RunState? stale)
    {
        lock (_lock)
        {
            foreach (var run in runs)
            {
                if (ReferenceEquals(run, stale))
                    Judge(run, stale: true);
                else
                    _handedOut.Remove(run);
                Drop(run.CorrelationId);
            }
        }
    }

    /// <summary>Rows changed by a write that is not a copy's (renewals, timers): their copies are dropped.</summary>
    public void Forget(IEnumerable<Guid> runIds)
    {
        lock (_lock)
        {
            foreach (var runId in runIds)
                Drop(runId);
        }
    }

    void Drop(Guid runId)
    {
        _current.Remove(runId);
        _previous.Remove(runId);
    }

    bool Paused => _time.GetUtcNow() < _pausedUntil;

    /// <summary>Counts a write from a handed-out copy, and pauses the copies when too many of a window were stale.</summary>
    void Judge(RunState run, bool stale)
    {
        if (!_handedOut.Remove(run))
            return;
        _writes++;
        if (stale)
            _stale++;
        if (_writes < Window)
            return;
        if (_stale * 10 > _writes)
        {
            _pausedUntil = _time.GetUtcNow() + Cooldown;
            _current.Clear();
            _previous.Clear();
            _paused?.Invoke(_stale, _writes);
        }
        _writes = 0;
        _stale = 0;
    }

    static long Text(RunState run) =>
        (long)run.Input.Length + (run.AgentSpecJson?.Length ?? 0) + (run.Output?.Length ?? 0) + (run.ArtifactsJson?.Length ?? 0)
        + (run.LabelsJson?.Length ?? 0) + (run.LastError?.Length ?? 0);
}
