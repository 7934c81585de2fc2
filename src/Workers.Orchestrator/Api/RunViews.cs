using System.Text.Json;
using Workers.Contracts;
using Workers.Runs.StateMachine;

namespace Workers.Orchestrator.Api;

static class RunViews
{
    /// <summary>The view of <paramref name="run"/>; artifacts (up to a few hundred kB) only when asked, i.e. for one run, not for pages.</summary>
    public static RunView From(RunState run, IReadOnlySet<string> liveRuntimes, bool withArtifacts = false) => new()
    {
        WaitingReason = run.CurrentState == RunStates.Queued && !liveRuntimes.Contains(run.Runtime)
            ? $"no live worker offers runtime '{run.Runtime}'" + (liveRuntimes.Count == 0
                ? " (no worker is alive)"
                : $" (live workers offer: {string.Join(", ", liveRuntimes.Order(StringComparer.Ordinal))})")
            : null,
        RunId = run.CorrelationId,
        State = run.CurrentState,
        Agent = run.Agent,
        Runtime = run.Runtime,
        Priority = run.Priority,
        Attempt = run.Attempt,
        MaxAttempts = run.MaxAttempts,
        Tenant = run.Tenant,
        Labels = run.LabelsJson is null ? null : JsonSerializer.Deserialize<Dictionary<string, string>>(run.LabelsJson, JsonSerializerOptions.Web),
        WorkerId = run.WorkerId,
        Input = run.Input,
        Output = run.Output,
        Error = run.LastError,
        ErrorKind = run.ErrorKind,
        Limits = new RunLimits
        {
            MaxAttempts = run.MaxAttempts,
            RetryInitialDelay = run.RetryInitialDelay,
            RetryMaxDelay = run.RetryMaxDelay,
            NonRetryableErrors = run.NonRetryableErrors?.Split(','),
            ScheduleToStartTimeout = run.ScheduleToStartTimeout,
            StartToCloseTimeout = run.StartToCloseTimeout,
            ScheduleToCloseTimeout = run.ScheduleToCloseTimeout,
            StallTimeout = run.StallTimeout,
            RetryOnStall = run.RetryOnStall,
        },
        DeadlineAt = run.DeadlineAt,
        SubmittedAt = run.SubmittedAt,
        StartedAt = run.StartedAt,
        FinishedAt = run.FinishedAt,
        LeaseExpiresAt = run.LeaseExpiresAt,
        NextAttemptAt = run.NextAttemptAt,
        UpdatedAt = run.UpdatedAt,
        Usage = new RunUsageView
        {
            Steps = run.Steps,
            ToolCalls = run.ToolCalls,
            InputTokens = run.InputTokens,
            OutputTokens = run.OutputTokens,
            CostUsd = run.CostUsd,
        },
        Artifacts = !withArtifacts || run.ArtifactsJson is null ? null : JsonSerializer.Deserialize<RunArtifacts>(run.ArtifactsJson, JsonSerializerOptions.Web),
    };
}
