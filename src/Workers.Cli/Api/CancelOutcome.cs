using Workers.Orchestrator.Api;

namespace Workers.Cli.Api;

/// <summary>The answer to a cancel: <see cref="Requested"/> is false when the run had already finished (HTTP 200).</summary>
internal sealed record CancelOutcome(RunAccepted Accepted, bool Requested);
