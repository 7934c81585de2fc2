namespace Workers.Worker.Execution;

/// <summary>Bounded concurrency: one slot per run in flight.</summary>
public sealed class SlotPool : IDisposable
{
    readonly SemaphoreSlim _slots;

    public SlotPool(int size)
    {
        Size = size;
        _slots = new SemaphoreSlim(size, size);
    }

    public int Size { get; }

    public int Free => _slots.CurrentCount;

    public Task<bool> TryTakeAsync(TimeSpan timeout, CancellationToken cancellationToken) => _slots.WaitAsync(timeout, cancellationToken);

    /// <summary>Takes a slot if one is free now, without waiting.</summary>
    public bool TryTake() => _slots.Wait(0);

    public void Release() => _slots.Release();

    public void Dispose() => _slots.Dispose();
}
