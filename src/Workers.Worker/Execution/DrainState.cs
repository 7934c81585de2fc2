namespace Workers.Worker.Execution;

/// <summary>Set when the worker stops taking new work (shutdown); waits for a slot end when it is.</summary>
public sealed class DrainState : IDisposable
{
    readonly CancellationTokenSource _draining = new();

    public bool IsDraining => _draining.IsCancellationRequested;

    /// <summary>Cancelled when the drain begins.</summary>
    public CancellationToken Token => _draining.Token;

    public void BeginDrain() => _draining.Cancel();

    public void Dispose() => _draining.Dispose();
}
