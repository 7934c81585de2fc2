namespace Workers.Worker.Execution;

/// <summary>Set when the worker stops taking new work (shutdown).</summary>
public sealed class DrainState
{
    volatile bool _draining;

    public bool IsDraining => _draining;

    public void BeginDrain() => _draining = true;
}
