using System.Collections.Concurrent;

namespace Workers.Worker.Execution;

/// <summary>Keeps the background tasks of running attempts so shutdown can wait for them.</summary>
sealed class TaskTracker
{
    readonly ConcurrentDictionary<Task, byte> _tasks = new();

    public void Track(Task task)
    {
        _tasks[task] = 0;
        task.ContinueWith(t => _tasks.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public int Count => _tasks.Count;

    public Task WhenIdle() => Task.WhenAll(_tasks.Keys.ToList());
}
