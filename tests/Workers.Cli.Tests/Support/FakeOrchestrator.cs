using System.Collections.Concurrent;

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

using Workers.Orchestrator.Api;
using Workers.Runs.StateMachine;

namespace Workers.Cli.Tests.Support;

/// <summary>
/// A stand-in orchestrator: a real Kestrel server on 127.0.0.1 (port 0) serving canned answers on the routes of the
/// orchestrator's HTTP API, and recording what the CLI sent. Runs follow scripts: each GET of a run returns the next
/// step (null: 404), the last step repeating.
/// </summary>
sealed class FakeOrchestrator : IAsyncDisposable
{
    public const string UnknownAgent = "unknown";
    public const string UnknownAgentDetail = "unknown agent 'unknown'; the agents file defines: echo, sleep, fail.";

    readonly WebApplication app;
    readonly ConcurrentDictionary<Guid, RunScript> scripts = new();

    FakeOrchestrator(WebApplication app) => this.app = app;

    public Uri Url { get; private set; } = null!;

    public ConcurrentQueue<SubmitRunRequest> Submissions { get; } = new();

    /// <summary>The query string of every <c>GET /api/runs</c>, in order.</summary>
    public ConcurrentQueue<string> ListQueries { get; } = new();

    /// <summary>Every cancel: the run and the <c>reason</c> query parameter.</summary>
    public ConcurrentQueue<(Guid RunId, string? Reason)> Cancels { get; } = new();

    /// <summary>What <c>GET /api/runs</c> pages through (page size: <c>limit</c>, else 2).</summary>
    public IReadOnlyList<RunView> Listed { get; set; } = [];

    public IReadOnlyList<WorkerView> Workers { get; set; } = [];

    /// <summary>
    /// Each run's event log. Like a live run's, it grows: after the run was read N times, the first 2 × N events exist
    /// (all of them before any read). Pages hold 2 events.
    /// </summary>
    public ConcurrentDictionary<Guid, IReadOnlyList<RunEventView>> Events { get; } = new();

    /// <summary>The script a submitted run follows (default: it stays Queued).</summary>
    public Func<Guid, SubmitRunRequest, RunView?[]>? ScriptOnSubmit { get; set; }

    public static async Task<FakeOrchestrator> StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var fake = new FakeOrchestrator(app);
        fake.Map(app);
        await app.StartAsync(cancellationToken);
        fake.Url = new Uri(app.Urls.First());
        return fake;
    }

    /// <summary>Scripts the answers to <c>GET /api/runs/{runId}</c>; a null step answers 404.</summary>
    public void Script(Guid runId, params RunView?[] steps) => scripts[runId] = new RunScript(steps);

    /// <summary>How many times the CLI asked for the run.</summary>
    public int Reads(Guid runId) => scripts.TryGetValue(runId, out var script) ? script.Reads : 0;

    public static RunView Run(Guid runId, string state, string? output = null, string? error = null) => new()
    {
        RunId = runId,
        State = state,
        Agent = "echo",
        Runtime = "process",
        Priority = 5,
        Attempt = 1,
        MaxAttempts = 3,
        WorkerId = state == RunStates.Queued ? null : "worker-a",
        Input = "hello",
        Output = output,
        Error = error,
        SubmittedAt = FixedNow.Default.AddMinutes(-5),
        StartedAt = state == RunStates.Queued ? null : FixedNow.Default.AddMinutes(-4),
        FinishedAt = RunStates.IsTerminal(state) ? FixedNow.Default.AddMinutes(-1) : null,
        UpdatedAt = FixedNow.Default.AddMinutes(-1),
    };

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }

    void Map(WebApplication web)
    {
        web.MapPost("/api/runs", (SubmitRunRequest request) =>
        {
            Submissions.Enqueue(request);
            if (request.Agent == UnknownAgent)
                return Results.Problem(detail: UnknownAgentDetail, statusCode: 400, title: "Invalid request");
            var runId = request.RunId ?? Guid.NewGuid();
            scripts.TryAdd(runId, new RunScript(ScriptOnSubmit?.Invoke(runId, request) ?? [Run(runId, RunStates.Queued)]));
            return Results.Accepted($"/api/runs/{runId}", new RunAccepted(runId, "Submitted"));
        });

        web.MapGet("/api/runs/{runId:guid}", (Guid runId) =>
            scripts.TryGetValue(runId, out var script) && script.Next() is { } view ? Results.Ok(view) : NotFound(runId));

        web.MapGet("/api/runs", (HttpRequest request, int? limit, string? cursor) =>
        {
            ListQueries.Enqueue(request.QueryString.Value ?? "");
            var start = cursor is null ? 0 : int.Parse(cursor.TrimStart('c'), System.Globalization.CultureInfo.InvariantCulture);
            var size = limit ?? 2;
            var items = Listed.Skip(start).Take(size).ToList();
            var next = start + size < Listed.Count ? $"c{start + size}" : null;
            return Results.Ok(new RunPage(items, next));
        });

        web.MapPost("/api/runs/{runId:guid}/cancel", (Guid runId, string? reason) =>
        {
            Cancels.Enqueue((runId, reason));
            if (!scripts.TryGetValue(runId, out var script))
                return NotFound(runId);
            var state = script.Current?.State ?? RunStates.Queued;
            return RunStates.IsTerminal(state)
                ? Results.Ok(new RunAccepted(runId, state, $"the run already finished as {state}; nothing changed."))
                : Results.Accepted($"/api/runs/{runId}", new RunAccepted(runId, state, "cancel requested."));
        });

        web.MapGet("/api/runs/{runId:guid}/events", (Guid runId, string? after) =>
        {
            if (!Events.TryGetValue(runId, out var all))
                return NotFound(runId);
            var reads = Reads(runId);
            var existing = reads == 0 ? all : all.Take(2 * reads).ToList();
            var position = after is null ? 0 : int.Parse(after.Split('.')[1], System.Globalization.CultureInfo.InvariantCulture);
            var page = existing.Where(e => e.Sequence > position).Take(2).ToList();
            return Results.Ok(new RunEventPage(page, page.Count == 0 ? after ?? "0.0" : $"1.{page[^1].Sequence}"));
        });

        web.MapGet("/api/workers", () => Results.Ok(Workers));
        web.MapGet("/health/ready", () => Results.Ok());
    }

    static IResult NotFound(Guid runId) =>
        Results.Problem(detail: $"no run with id {runId}.", statusCode: 404, title: "Run not found");

    sealed class RunScript(RunView?[] steps)
    {
        int reads;

        public int Reads => Volatile.Read(ref reads);

        public RunView? Current => steps[Math.Clamp(Reads - 1, 0, steps.Length - 1)];

        public RunView? Next() => steps[Math.Min(Interlocked.Increment(ref reads) - 1, steps.Length - 1)];
    }
}
