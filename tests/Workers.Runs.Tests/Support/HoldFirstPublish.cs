using MassTransit;

namespace Workers.Runs.Tests.Support;

/// <summary>Holds the first publish until released, so what is reported meanwhile has to wait for it.</summary>
public sealed class HoldFirstPublish : IPublishObserver
{
    readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly TaskCompletionSource _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);
    int _seen;

    public Task Holding => _holding.Task;

    public void Release() => _released.TrySetResult();

    public Task PrePublish<T>(PublishContext<T> context)
        where T : class
    {
        if (Interlocked.Increment(ref _seen) != 1)
            return Task.CompletedTask;
        _holding.TrySetResult();
        return _released.Task;
    }

    public Task PostPublish<T>(PublishContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PublishFault<T>(PublishContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;
}
