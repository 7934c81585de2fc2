using System.Text.Json;
using Microsoft.Extensions.Options;
using Workers.Agents.Definitions;
using Workers.Agents.Runtimes;
using Workers.Contracts;
using Workers.Runs.Routing;

namespace Workers.Runs.Admission;

/// <summary>
/// Decides whether a submission can run and, if so, on what: the agent, the runtime, the attempt budget.
/// Used by the saga (every producer) and by the HTTP API (to answer 400 at once); both give the same reasons.
/// </summary>
public sealed class RunAdmission(IAgentCatalog catalog, ILiveRuntimes liveRuntimes, IOptions<RunOptions> options)
{
    public const int MinPriority = 0;
    public const int MaxPriority = 9;
    const int MaxLabels = 64;
    const int MaxLabelLength = 256;

    /// <summary>Checks a submission. Returns the admitted run, or a rejection whose reason says what to fix.</summary>
    public AdmissionResult Admit(SubmitRun request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var policy = options.Value;

        if (request.RunId == Guid.Empty)
            return AdmissionResult.Reject("runId is required (a GUID chosen by the producer; it is the idempotency key).");
        if (string.IsNullOrWhiteSpace(request.Agent))
            return AdmissionResult.Reject($"agent is required; known agents: {KnownAgents()}.");
        if (!catalog.TryGet(request.Agent, out var agent))
            return AdmissionResult.Reject($"unknown agent '{request.Agent}'; known agents: {KnownAgents()}.");
        if (request.Priority is < MinPriority or > MaxPriority)
            return AdmissionResult.Reject($"priority {request.Priority} is out of range; use {MinPriority} (lowest) to {MaxPriority} (highest).");
        if (string.IsNullOrWhiteSpace(request.Input))
            return AdmissionResult.Reject("input is empty; give the agent a task.");
        if (request.Input.Length > policy.MaxInputLength)
            return AdmissionResult.Reject($"input is {request.Input.Length} characters; the limit is {policy.MaxInputLength} (setting Workers:Runs:MaxInputLength).");
        if (request.Labels is { Count: > MaxLabels })
            return AdmissionResult.Reject($"{request.Labels.Count} labels given; at most {MaxLabels} are allowed.");
        if (request.Labels?.FirstOrDefault(l => l.Key.Length > MaxLabelLength || l.Value.Length > MaxLabelLength) is { Key: not null } longLabel)
            return AdmissionResult.Reject($"label '{Truncate(longLabel.Key)}' is too long; keys and values are at most {MaxLabelLength} characters.");

        string runtime;
        if (!string.IsNullOrWhiteSpace(request.Runtime))
        {
            if (!RuntimeNames.All.Contains(request.Runtime))
                return AdmissionResult.Reject($"unknown runtime '{request.Runtime}'; known runtimes: {string.Join(", ", RuntimeNames.All)}.");
            if (!agent.Runtimes.Contains(request.Runtime))
                return AdmissionResult.Reject($"agent '{agent.Name}' does not support runtime '{request.Runtime}'; it supports: {string.Join(", ", agent.Runtimes)}.");
            runtime = request.Runtime;
        }
        else
        {
            // The agent's first runtime that some live worker offers; if none does, its first (the run waits, visibly).
            var live = liveRuntimes.Offered;
            runtime = agent.Runtimes.FirstOrDefault(live.Contains) ?? agent.Runtimes[0];
        }

        if (ResolvePolicy(request.Limits ?? new RunLimits(), agent.Limits, policy, out var runPolicy) is { } problem)
            return AdmissionResult.Reject(problem);

        // The request's repository replaces the agent's as a whole: a request ref never applies to the agent's repository.
        var workspace = request.Workspace ?? agent.Workspace;
        if (workspace is not null && WorkspaceProblem(workspace, fromRequest: request.Workspace is not null) is { } workspaceProblem)
            return AdmissionResult.Reject(workspaceProblem);

        var spec = new AgentSpec
        {
            Name = agent.Name,
            Runtime = runtime,
            Settings = agent.Settings.TryGetValue(runtime, out var settings) ? settings : null,
            Workspace = workspace,
        };
        return AdmissionResult.Admit(runtime, runPolicy, spec);
    }

    static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(30);
    const int MaxErrorKinds = 32;

    /// <summary>Each limit from the request, else the agent definition, else the fleet default; returns what is wrong, if anything.</summary>
    static string? ResolvePolicy(RunLimits request, RunLimits agent, RunOptions fleet, out RunPolicy resolved)
    {
        resolved = new RunPolicy(
            MaxAttempts: request.MaxAttempts ?? agent.MaxAttempts ?? fleet.DefaultMaxAttempts,
            RetryInitialDelay: request.RetryInitialDelay ?? agent.RetryInitialDelay ?? fleet.RetryBaseDelay,
            RetryMaxDelay: request.RetryMaxDelay ?? agent.RetryMaxDelay ?? fleet.RetryMaxDelay,
            NonRetryableErrors: [.. fleet.NonRetryableErrors.Concat(agent.NonRetryableErrors ?? []).Concat(request.NonRetryableErrors ?? []).Distinct(StringComparer.Ordinal)],
            ScheduleToStartTimeout: request.ScheduleToStartTimeout ?? agent.ScheduleToStartTimeout ?? fleet.ScheduleToStartTimeout,
            StartToCloseTimeout: request.StartToCloseTimeout ?? agent.StartToCloseTimeout ?? fleet.StartToCloseTimeout,
            ScheduleToCloseTimeout: request.ScheduleToCloseTimeout ?? agent.ScheduleToCloseTimeout ?? fleet.ScheduleToCloseTimeout,
            StallTimeout: request.StallTimeout ?? agent.StallTimeout ?? fleet.StallTimeout,
            RetryOnStall: request.RetryOnStall ?? agent.RetryOnStall ?? fleet.RetryOnStall);

        if (resolved.MaxAttempts is < 1 or > 100)
            return $"limits.maxAttempts {resolved.MaxAttempts} is out of range; use 1 to 100.";
        if ((OutOfRange(request.RetryInitialDelay, allowZero: true) ?? OutOfRange(request.RetryMaxDelay, allowZero: true)) is { } delay)
            return $"limits.retryInitialDelay and retryMaxDelay must be from 00:00:00 to {MaxTimeout:c}; got {delay:c}.";
        if (resolved.RetryMaxDelay < resolved.RetryInitialDelay)
            return $"limits.retryMaxDelay ({resolved.RetryMaxDelay:c}) is shorter than retryInitialDelay ({resolved.RetryInitialDelay:c}).";
        foreach (var (name, value) in new[]
        {
            ("scheduleToStartTimeout", request.ScheduleToStartTimeout), ("startToCloseTimeout", request.StartToCloseTimeout),
            ("scheduleToCloseTimeout", request.ScheduleToCloseTimeout), ("stallTimeout", request.StallTimeout),
        })
        {
            if (OutOfRange(value, allowZero: false) is { } bad)
                return $"limits.{name} {bad:c} is out of range; use more than 00:00:00 and at most {MaxTimeout:c} (e.g. \"00:30:00\").";
        }
        if (request.NonRetryableErrors is { Count: > MaxErrorKinds })
            return $"limits.nonRetryableErrors has {request.NonRetryableErrors.Count} kinds; at most {MaxErrorKinds} are allowed.";
        if (request.NonRetryableErrors?.FirstOrDefault(k => string.IsNullOrWhiteSpace(k) || k.Length > 100 || k.Contains(',', StringComparison.Ordinal)) is { } kind)
            return $"limits.nonRetryableErrors has an invalid kind '{Truncate(kind)}'; kinds are short names such as exit-code.";
        return null;
    }

    static TimeSpan? OutOfRange(TimeSpan? value, bool allowZero) =>
        value is { } v && (v < TimeSpan.Zero || (!allowZero && v == TimeSpan.Zero) || v > MaxTimeout) ? v : null;

    static string? WorkspaceProblem(WorkspaceSpec workspace, bool fromRequest)
    {
        var problem = WorkspaceAddress.RepositoryProblem(workspace.Repository) ?? WorkspaceAddress.RefProblem(workspace.Ref);
        return problem is null ? null : fromRequest ? $"workspace.{problem}." : $"the agent's workspace.{problem}; fix the agents file.";
    }

    string KnownAgents()
    {
        var names = catalog.Agents.Select(a => a.Name).Order(StringComparer.Ordinal).ToList();
        return names.Count == 0 ? "(none: the agents file defines no agent)" : string.Join(", ", names);
    }

    static string Truncate(string value) => value.Length <= 40 ? value : value[..40] + "…";
}

/// <summary>The outcome of <see cref="RunAdmission.Admit"/>.</summary>
public sealed record AdmissionResult
{
    public bool Admitted => RejectionReason is null;
    public string? RejectionReason { get; private init; }
    public string Runtime { get; private init; } = "";
    public RunPolicy? Policy { get; private init; }
    public int MaxAttempts => Policy?.MaxAttempts ?? 0;
    public AgentSpec? Spec { get; private init; }

    public static AdmissionResult Reject(string reason) => new() { RejectionReason = reason };

    public static AdmissionResult Admit(string runtime, RunPolicy policy, AgentSpec spec) =>
        new() { Runtime = runtime, Policy = policy, Spec = spec };

    /// <summary>The spec as stored on the run row.</summary>
    public string? SpecJson => Spec is null ? null : JsonSerializer.Serialize(Spec, JsonSerializerOptions.Web);
}

/// <summary>The retry policy and timeouts a run was admitted with (request, else agent, else fleet default).</summary>
public sealed record RunPolicy(
    int MaxAttempts,
    TimeSpan RetryInitialDelay,
    TimeSpan RetryMaxDelay,
    IReadOnlyList<string> NonRetryableErrors,
    TimeSpan? ScheduleToStartTimeout,
    TimeSpan? StartToCloseTimeout,
    TimeSpan? ScheduleToCloseTimeout,
    TimeSpan? StallTimeout,
    bool RetryOnStall);
