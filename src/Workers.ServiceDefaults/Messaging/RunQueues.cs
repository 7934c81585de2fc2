namespace Workers.ServiceDefaults.Messaging;

/// <summary>
/// Names of the dispatch queues: one priority queue per runtime, so a run only reaches workers that offer its runtime.
/// </summary>
public static class RunQueues
{
    /// <summary>
    /// RabbitMQ 3.10 supports priority on classic queues only; 10 levels as recommended. Every declaration of a
    /// dispatch queue must use exactly this value, or the broker refuses it with PRECONDITION_FAILED.
    /// </summary>
    public const byte MaxPriority = 10;

    /// <summary>
    /// The level above every user priority (0-9): a run whose attempt was lost with its worker (or handed back by a
    /// draining one) goes to the head of its queue, so it restarts at once instead of waiting behind the backlog.
    /// </summary>
    public const byte RestartPriority = 10;

    /// <summary>
    /// The priority of messages about runs already under way (claims, results, cancels, timers) on the saga's queue,
    /// which is a priority queue too: above every submission (0-9, see <see cref="SubmissionPriority"/>), so a burst of
    /// submissions never delays a claim, a result or a cancel by the whole backlog.
    /// </summary>
    public const byte LifecyclePriority = 10;

    /// <summary>
    /// The message priority to publish a <c>SubmitRun</c> with: the run's own priority (0-9). The saga's queue then admits
    /// urgent submissions ahead of a backlog of others, as the dispatch queues run them; a submission published without a
    /// priority waits behind every one published before it.
    /// </summary>
    public static byte SubmissionPriority(int runPriority) => (byte)Math.Clamp(runPriority, 0, 9);

    /// <summary>The queue (and the exchange bound to it, of the same name) for a runtime's dispatches.</summary>
    public static string ForRuntime(string runtime) => $"runs-{runtime}";

    /// <summary>
    /// The send address of a runtime's dispatches. The exchange, not <c>queue:</c>: sending to a queue address
    /// would declare the queue without <c>x-max-priority</c> and clash with the workers' declaration.
    /// </summary>
    public static Uri DispatchAddress(string runtime) => new($"exchange:{ForRuntime(runtime)}");
}
