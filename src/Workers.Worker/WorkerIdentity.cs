using Microsoft.Extensions.Options;

namespace Workers.Worker;

/// <summary>Who this worker is, fixed for the life of the process.</summary>
public sealed class WorkerIdentity(IOptions<WorkerOptions> options, TimeProvider time)
{
    public string WorkerId { get; } = options.Value.WorkerId is { Length: > 0 } id
        ? id
        : $"{Environment.MachineName.ToLowerInvariant()}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";

    public string HostName { get; } = Environment.MachineName;

    public DateTimeOffset StartedAt { get; } = time.GetUtcNow();
}
