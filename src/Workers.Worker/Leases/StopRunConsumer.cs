using MassTransit;
using Microsoft.Extensions.Logging;
using Workers.Contracts;

namespace Workers.Worker.Leases;

/// <summary>The orchestrator asks this worker to stop a run (a cancel, a timeout): only under the lease it names.</summary>
public sealed partial class StopRunConsumer(LeaseTable leases, ILogger<StopRunConsumer> logger) : IConsumer<StopRun>
{
    public Task Consume(ConsumeContext<StopRun> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var stop = context.Message;
        if (leases.TryGet(stop.RunId, out var run) && run.LeaseId == stop.LeaseId)
        {
            LogStopRequested(logger, run.RunId, stop.Reason);
            run.Stop(StopCause.Orchestrator, stop.Reason);
        }
        return Task.CompletedTask;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Stopping run {RunId}: {Reason}")]
    static partial void LogStopRequested(ILogger logger, Guid runId, string reason);
}
