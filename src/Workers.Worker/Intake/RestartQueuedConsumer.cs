using MassTransit;
using Microsoft.Extensions.Logging;
using Workers.Contracts;

namespace Workers.Worker.Intake;

/// <summary>Lets a restart overtake the dispatch this worker holds for the same runtime (<see cref="HeldDispatches"/>).</summary>
public sealed partial class RestartQueuedConsumer(HeldDispatches held, ILogger<RestartQueuedConsumer> logger) : IConsumer<RestartQueued>
{
    public Task Consume(ConsumeContext<RestartQueued> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var restart = context.Message;
        if (held.StepAsideFor(restart.Runtime, restart.Priority))
            LogSteppedAside(logger, restart.RunId, restart.Attempt, restart.Runtime);
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Putting back the dispatch held for a slot on '{Runtime}': run {RunId} restarts (attempt {Attempt}) and goes first")]
    static partial void LogSteppedAside(ILogger logger, Guid runId, int attempt, string runtime);
}
