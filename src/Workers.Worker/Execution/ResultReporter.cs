using Workers.Contracts;
using Workers.Worker.Intake;

namespace Workers.Worker.Execution;

/// <summary>
/// Reports attempts' results until the broker has them. Successes are the common case and go through the
/// <see cref="ClaimBatcher"/>: they ride with the worker's next claim request, or leave together in one message when no claim
/// is waiting. Failures, cancellations and hand-backs are rare and leave one by one.
/// </summary>
public sealed class ResultReporter(ClaimBatcher batcher, ConfirmedPublisher publisher)
{
    /// <summary>Completes once the result is safe with the broker; throws only when it could not be for <see cref="ConfirmedPublisher.Patience"/>.</summary>
    public Task ReportAsync(object result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return result is RunSucceeded success ? batcher.SendSuccessAsync(success) : publisher.PublishAsync(result, 1);
    }
}
