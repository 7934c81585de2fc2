using System.Globalization;
using System.Text.Json;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using Workers.Contracts;
using Workers.Runs;
using Workers.Runs.Admission;
using Workers.Runs.Persistence;
using Workers.Runs.Routing;
using Workers.Runs.StateMachine;
using Workers.ServiceDefaults.Messaging;

namespace Workers.Orchestrator.Api;

/// <summary>The HTTP API over the saga-state table: submit, read, list, cancel; the worker registry; counts.</summary>
static class RunsApi
{
    const int DefaultPageSize = 50;
    const int MaxPageSize = 500;

    public static IEndpointRouteBuilder MapRunsApi(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/api");
        api.MapPost("/runs", SubmitAsync);
        api.MapGet("/runs", ListAsync);
        api.MapGet("/runs/{runId:guid}", GetAsync);
        api.MapPost("/runs/{runId:guid}/cancel", CancelAsync);
        api.MapGet("/runs/{runId:guid}/events", EventsAsync);
        api.MapGet("/workers", WorkersAsync);
        api.MapGet("/stats", StatsAsync);
        return endpoints;
    }

    static async Task<IResult> SubmitAsync(HttpRequest request, RunAdmission admission, IBus bus, CancellationToken cancellationToken)
    {
        SubmitRunRequest? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<SubmitRunRequest>(request.Body, JsonSerializerOptions.Web, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            return Invalid($"the body is not valid JSON for a run request: {ex.Message}");
        }
        if (body is null)
            return Invalid("the body is empty; send JSON such as {\"agent\": \"echo\", \"input\": \"hello\"}.");

        var submit = new SubmitRun
        {
            RunId = body.RunId ?? NewId.NextGuid(),
            Agent = body.Agent ?? "",
            Input = body.Input ?? "",
            Priority = body.Priority ?? 0,
            Runtime = body.Runtime,
            Tenant = body.Tenant,
            Labels = body.Labels,
            Limits = body.MaxAttempts is null ? body.Limits : (body.Limits ?? new RunLimits()) with { MaxAttempts = body.MaxAttempts },
            Workspace = body.Workspace,
        };
        var verdict = admission.Admit(submit);
        if (!verdict.Admitted)
            return Invalid(verdict.RejectionReason!);

        await bus.Publish(submit, context => context.TrySetPriority(RunQueues.SubmissionPriority(submit.Priority)), cancellationToken).ConfigureAwait(false);
        return Results.Accepted($"/api/runs/{submit.RunId}", new RunAccepted(submit.RunId, "Submitted"));
    }

    static async Task<IResult> GetAsync(Guid runId, RunStore store, ILiveRuntimes live, CancellationToken cancellationToken)
    {
        var run = await store.LoadAsync(runId, cancellationToken).ConfigureAwait(false);
        return run is null ? NotFound(runId) : Results.Ok(RunViews.From(run, live.Offered, withArtifacts: true));
    }

    static async Task<IResult> ListAsync(RunStore store, ILiveRuntimes live, string? state, string? runtime, string? agent, string? tenant, int? limit, string? cursor,
        CancellationToken cancellationToken)
    {
        if (state is not null && !RunStates.All.Contains(state))
            return Invalid($"unknown state '{state}'; use one of: {string.Join(", ", RunStates.All)}.");
        if (limit is < 1 or > MaxPageSize)
            return Invalid($"limit {limit} is out of range; use 1 to {MaxPageSize}.");
        RunCursor? position = null;
        if (cursor is not null && !RunCursor.TryDecode(cursor, out position))
            return Invalid("cursor is not one this API returned; pass the nextCursor of the previous page unchanged.");

        var (runs, next) = await store.QueryAsync(new RunQuery(state, runtime, agent, tenant, limit ?? DefaultPageSize, position), cancellationToken)
            .ConfigureAwait(false);
        var offered = live.Offered;
        return Results.Ok(new RunPage(runs.Select(r => RunViews.From(r, offered)).ToList(), next));
    }

    static async Task<IResult> CancelAsync(Guid runId, HttpRequest request, RunStore store, IBus bus, CancellationToken cancellationToken)
    {
        var run = await store.LoadAsync(runId, cancellationToken).ConfigureAwait(false);
        if (run is null)
            return NotFound(runId);
        if (RunStates.IsTerminal(run.CurrentState))
            return Results.Ok(new RunAccepted(runId, run.CurrentState, $"the run already finished as {run.CurrentState}; nothing changed."));

        string? reason = request.Query["reason"];
        await bus.Publish(new CancelRun { RunId = runId, Reason = reason ?? "cancelled through the API" },
            context => context.TrySetPriority(RunQueues.LifecyclePriority), cancellationToken).ConfigureAwait(false);
        return Results.Accepted($"/api/runs/{runId}", new RunAccepted(runId, run.CurrentState, "cancel requested."));
    }

    /// <summary>The run's event log in order; <c>after</c> is the <c>next</c> position of the previous page ("attempt.sequence").</summary>
    static async Task<IResult> EventsAsync(Guid runId, RunStore store, RunEventStore events, string? after, int? limit, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > MaxEventPage)
            return Invalid($"limit {limit} is out of range; use 1 to {MaxEventPage}.");
        var (afterAttempt, afterSequence) = (0, 0L);
        if (after is not null && !TryParsePosition(after, out afterAttempt, out afterSequence))
            return Invalid($"after '{after}' is not a position; pass the 'next' value of the previous page (e.g. 2.15).");
        if (await store.LoadAsync(runId, cancellationToken).ConfigureAwait(false) is null)
            return NotFound(runId);
        var page = await events.ListAsync(runId, afterAttempt, afterSequence, limit ?? DefaultEventPage, cancellationToken).ConfigureAwait(false);
        var next = page.Count == 0 ? after ?? "0.0" : string.Create(CultureInfo.InvariantCulture, $"{page[^1].Attempt}.{page[^1].Sequence}");
        return Results.Ok(new RunEventPage(page.Select(e => new RunEventView
        {
            Attempt = e.Attempt,
            Sequence = e.Sequence,
            At = e.At,
            Type = e.Type,
            Text = e.Text,
            Tool = e.Tool,
            CallId = e.CallId,
            IsError = e.IsError,
        }).ToList(), next));
    }

    const int DefaultEventPage = 200;
    const int MaxEventPage = 1000;

    static bool TryParsePosition(string text, out int attempt, out long sequence)
    {
        sequence = 0;
        var parts = text.Split('.');
        return int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out attempt)
            && parts.Length == 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out sequence);
    }

    static async Task<IResult> WorkersAsync(RunStore store, TimeProvider time, IOptions<RunOptions> options, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var workers = await store.ListWorkersAsync(cancellationToken).ConfigureAwait(false);
        return Results.Ok(workers.Select(w => new WorkerView
        {
            WorkerId = w.WorkerId,
            HostName = w.HostName,
            Runtimes = w.Runtimes,
            Unavailable = w.Unavailable,
            Slots = w.Slots,
            ActiveRuns = w.ActiveRuns,
            Draining = w.Draining,
            MailboxDownSince = w.MailboxDownSince,
            Status = now - w.LastSeenAt <= options.Value.LeaseDuration ? "alive" : "lost",
            StartedAt = w.StartedAt,
            LastSeenAt = w.LastSeenAt,
        }).ToList());
    }

    static async Task<IResult> StatsAsync(RunStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        var counts = await store.CountAsync(cancellationToken).ConfigureAwait(false);
        var oldest = counts.OldestQueuedSubmittedAt is { } at ? (time.GetUtcNow() - at).TotalSeconds : 0;
        return Results.Ok(new { runs = counts.ByState, oldestQueuedAgeSeconds = Math.Max(0, oldest) });
    }

    static IResult Invalid(string detail) =>
        Results.Problem(detail: detail, statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");

    static IResult NotFound(Guid runId) =>
        Results.Problem(detail: $"no run with id {runId}.", statusCode: StatusCodes.Status404NotFound, title: "Run not found");
}
