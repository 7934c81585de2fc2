using System.Net.Http.Json;
using System.Text.Json;
using MassTransit;
using Npgsql;
using Workers.Contracts;
using Workers.Integration.Tests.Fleet;
using Workers.Orchestrator.Api;
using Workers.Testing;

namespace Workers.Integration.Tests;

/// <summary>The fleet as deployed: orchestrator and worker processes on real RabbitMQ and PostgreSQL.</summary>
public sealed class DistributedFleet_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static void Report(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);

    [Fact]
    public async Task Three_hundred_runs_on_two_workers_each_run_exactly_once_and_their_rows_are_complete()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0.01, Ct);
        await fleet.AddWorkerAsync(slots: 4, Ct, "worker-1");
        await fleet.AddWorkerAsync(slots: 4, Ct, "worker-2");

        var rows = await RunThreeHundredExactlyOnceAsync(fleet);

        Assert.All(rows, row =>
        {
            Assert.Matches("^worker-[12]$", row.WorkerId);
            Assert.NotNull(row.LeaseId);
            Assert.NotNull(row.StartedAt);
            Assert.True(row.SubmittedAt <= row.StartedAt && row.StartedAt <= row.FinishedAt, $"timestamps out of order for {row.RunId}");
        });
        var perWorker = rows.GroupBy(r => r.WorkerId).ToDictionary(g => g.Key!, g => g.Count());
        Assert.Equal(2, perWorker.Count);
        Report($"runs per worker: {string.Join(", ", perWorker.Select(p => $"{p.Key}={p.Value}"))}");
    }

    [Fact]
    public async Task Two_orchestrators_take_turns_on_the_same_runs_and_each_run_still_runs_exactly_once()
    {
        // Each orchestrator writes from its own copies of the rows it last wrote (ADR 10); here a run's submission, claim
        // and success land on either, so copies go stale and must be caught, never acted on.
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0.01, Ct);
        await fleet.AddOrchestratorAsync(Ct);
        await fleet.AddWorkerAsync(slots: 4, Ct, "worker-1");
        await fleet.AddWorkerAsync(slots: 4, Ct, "worker-2");
        var (_, consumers) = await fleet.Vhost.GetQueueDepthAsync("run-state", Ct);
        Assert.Equal(2u, consumers);

        await RunThreeHundredExactlyOnceAsync(fleet);
    }

    /// <summary>
    /// Submits 300 <c>count</c> runs and checks that each succeeded with its own output without spending a second attempt,
    /// and that the agent ran exactly 300 times, once per run. Returns the rows.
    /// </summary>
    /// <remarks>
    /// Under load a hand-over can reach its worker after the offered slot was let go, with no other slot free in time: the
    /// worker hands it back before starting anything, and the run restarts at attempt 2 without the attempt counting
    /// (ADR 11). Its agent still runs once.
    /// </remarks>
    static async Task<List<RunRow>> RunThreeHundredExactlyOnceAsync(DistributedFleet fleet)
    {
        var ids = await fleet.SubmitManyAsync(Enumerable.Range(0, 300).Select(i => ("count", $"job {i}", i % 10)), Ct);
        await fleet.WaitForTerminalAsync(ids, TimeSpan.FromMinutes(3), Ct);

        var rows = await fleet.RowsAsync(ids, Ct);
        Assert.Equal(300, rows.Count);
        var released = ids.Zip(await CountsAsync(fleet, ids, "released_attempts")).ToDictionary(p => p.First, p => p.Second);
        Report($"runs handed back before they started: {released.Values.Count(n => n > 0)}");
        Assert.All(rows, row =>
        {
            Assert.Equal("Succeeded", row.State);
            Assert.Equal(1, row.Attempt - released[row.RunId]);
            Assert.NotNull(row.FinishedAt);
        });
        var inputs = Enumerable.Range(0, 300).Select(i => $"done job {i}").ToHashSet();
        Assert.True(inputs.SetEquals(rows.Select(r => r.Output!)), "every run's output is its own");
        var executions = fleet.Executions();
        Assert.Equal(300, executions.Count);
        Assert.Equal(ids.ToHashSet(), executions.Select(e => e.RunId).ToHashSet());
        return rows;
    }

    [Fact]
    public async Task High_priority_runs_overtake_a_backlog_of_low_ones_except_those_already_in_flight()
    {
        const int slots = 4;
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0.02, Ct);
        await fleet.AddWorkerAsync(slots, Ct);

        var lows = await fleet.SubmitManyAsync(Enumerable.Range(0, 2000).Select(i => ("count", $"low {i}", 0)), Ct);
        // Let the backlog build and the worker get going, then add the urgent work.
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (fleet.Executions().Count < 50)
        {
            Assert.True(DateTime.UtcNow < deadline, "the worker did not get through 50 runs in a minute");
            await Task.Delay(50, Ct);
        }
        var highs = await fleet.SubmitManyAsync(Enumerable.Range(0, 100).Select(i => ("count", $"high {i}", 9)), Ct);
        await fleet.WaitForTerminalAsync([.. lows, .. highs], TimeSpan.FromMinutes(5), Ct);

        var lowRows = await fleet.RowsAsync(lows, Ct);
        var highRows = await fleet.RowsAsync(highs, Ct);
        Assert.All(lowRows.Concat(highRows), r => Assert.Equal("Succeeded", r.State));
        var lastHighQueued = highRows.Max(r => r.SubmittedAt);
        var lastHighDone = highRows.Max(r => r.FinishedAt!.Value);
        // Lows that started after every high was queued yet finished before the last high: priority inversions.
        var overtaking = lowRows.Count(r => r.StartedAt > lastHighQueued && r.FinishedAt < lastHighDone);
        var inFlightWhenHighsCame = lowRows.Count(r => r.StartedAt <= lastHighQueued && r.FinishedAt > lastHighQueued);
        var lowsAfterHighs = lowRows.Count(r => r.FinishedAt > lastHighDone);
        Report($"lows in flight when the highs were queued: {inFlightWhenHighsCame}; lows started after and finished before the last high: {overtaking}; lows finished after every high: {lowsAfterHighs}");

        Assert.True(lowsAfterHighs >= 1000, $"the backlog was not deep enough to test priority ({lowsAfterHighs} lows left)");
        // At most one dispatch waits for a slot in the worker (prefetch 1); it may have been a low. One more may slip
        // through between the last high's commit and its dispatch reaching the queue.
        Assert.True(overtaking <= 2, $"{overtaking} low-priority runs started after the high ones were queued and finished before them");
    }

    [Fact]
    public async Task A_run_no_live_worker_can_take_waits_visibly_and_runs_once_one_arrives()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct);
        var id = await fleet.SubmitAsync("count", "patience", 3, Ct);

        var deadline = DateTime.UtcNow.AddSeconds(30);
        string? reason = null;
        while (reason is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "the queued run never showed why it waits");
            // 404 until the saga has stored the submission (the API answers 202 first).
            using var response = await fleet.Api.GetAsync($"api/runs/{id}", Ct);
            var view = response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<RunView>(JsonSerializerOptions.Web, Ct) : null;
            reason = view?.State == "Queued" ? view.WaitingReason : null;
            await Task.Delay(200, Ct);
        }
        Assert.Equal("no live worker offers runtime 'process' (no worker is alive)", reason);

        await fleet.AddWorkerAsync(slots: 1, Ct);
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromSeconds(60), Ct);
        Assert.Equal("Succeeded", Assert.Single(await fleet.RowsAsync([id], Ct)).State);
    }

    [Fact]
    public async Task A_submission_sent_again_with_its_run_id_stays_one_run_and_is_dispatched_again_while_it_waits()
    {
        // The orchestrator stores a first submission without reading the row first; a repeat must still find it.
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct);
        var id = Guid.NewGuid();
        await fleet.SubmitAsync(new SubmitRunRequest { RunId = id, Agent = "count", Input = "first" }, Ct);
        Assert.Equal(("Queued", 1, "first"), await WaitForDispatchesAsync(fleet, id, 1));

        await fleet.SubmitAsync(new SubmitRunRequest { RunId = id, Agent = "count", Input = "second" }, Ct);
        Assert.Equal(("Queued", 2, "first"), await WaitForDispatchesAsync(fleet, id, 2));

        await fleet.AddWorkerAsync(slots: 1, Ct);
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromSeconds(60), Ct);
        var row = Assert.Single(await fleet.RowsAsync([id], Ct));
        Assert.Equal(("Succeeded", 1, "done first"), (row.State, row.Attempt, row.Output));
    }

    [Fact]
    public async Task An_idle_worker_has_new_runs_handed_to_it_without_a_dispatch_through_the_queue()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct);
        await fleet.AddWorkerAsync(slots: 4, Ct, "worker-1", new Dictionary<string, string> { ["Workers__Worker__OfferIdleSlots"] = "true" });
        await fleet.WaitForOfferAsync("worker-1", Ct);

        var ids = await SubmitOneAtATimeAsync(fleet, 5);

        var rows = await fleet.RowsAsync(ids, Ct);
        Assert.All(rows, r => Assert.Equal(("Succeeded", 1, "worker-1"), (r.State, r.Attempt, r.WorkerId)));
        Assert.Equal([0, 0, 0, 0, 0], await DispatchCountsAsync(fleet, ids));
        Assert.Equal(5, fleet.Executions().Count);
    }

    [Fact]
    public async Task A_worker_that_offers_no_slots_has_every_run_come_through_the_queue()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct);
        await fleet.AddWorkerAsync(slots: 4, Ct, "worker-1", new Dictionary<string, string> { ["Workers__Worker__OfferIdleSlots"] = "false" });
        await Task.Delay(500, Ct);

        var ids = await SubmitOneAtATimeAsync(fleet, 3);

        Assert.All(await fleet.RowsAsync(ids, Ct), r => Assert.Equal(("Succeeded", 1), (r.State, r.Attempt)));
        Assert.Equal([1, 1, 1], await DispatchCountsAsync(fleet, ids));
    }

    [Fact]
    public async Task A_run_handed_to_a_worker_that_has_just_died_is_restarted_elsewhere_and_the_orchestrator_carries_on()
    {
        // The orchestrator still holds the dead worker's offer for up to a second after the kill: a run accepted then is
        // leased to it and its hand-over goes to a worker that is gone. That run waits for its lease to lapse; nothing else may.
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct, new Dictionary<string, string>
        {
            ["Workers__Runs__LeaseDuration"] = "00:00:04",
        });
        var offersOn = new Dictionary<string, string> { ["Workers__Worker__OfferIdleSlots"] = "true" };
        var doomed = await fleet.AddWorkerAsync(slots: 4, Ct, "doomed", offersOn);
        await fleet.WaitForOfferAsync("doomed", Ct);
        // One hand-over while it lives: the orchestrator has sent to it before.
        var first = await SubmitOneAtATimeAsync(fleet, 1);
        await fleet.WaitForOfferAsync("doomed", Ct);
        doomed.Kill();
        var handedToTheDead = await fleet.SubmitManyAsync(Enumerable.Range(0, 2).Select(i => ("count", $"orphan {i}", 5)), Ct);

        await fleet.AddWorkerAsync(slots: 4, Ct, "survivor", offersOn);
        var later = await SubmitOneAtATimeAsync(fleet, 3);
        await fleet.WaitForTerminalAsync(handedToTheDead, TimeSpan.FromMinutes(1), Ct);

        var handedOverAlive = Assert.Single(await fleet.RowsAsync(first, Ct));
        Assert.Equal(("Succeeded", "doomed"), (handedOverAlive.State, handedOverAlive.WorkerId));
        var rows = await fleet.RowsAsync([.. handedToTheDead, .. later], Ct);
        Assert.All(rows, r => Assert.Equal(("Succeeded", "survivor"), (r.State, r.WorkerId)));
        Assert.Contains(await fleet.RowsAsync(handedToTheDead, Ct), r => r.Attempt == 2);
        Assert.Equal(6, fleet.Executions().Count);
        // The hand-overs to the dead worker were dropped by the broker; no send failed and took an endpoint down with it.
        Assert.DoesNotContain(fleet.Orchestrator.Output, line => line.Contains("-FAULT ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_worker_that_dies_while_its_claim_is_being_answered_costs_the_orchestrator_nothing()
    {
        // Claims wait 2 s at the orchestrator, so the worker can be killed while one is in its hands; the answer then goes
        // to a worker that is gone. The orchestrator has answered that worker before, on the same channel. (The lease keeps
        // its default 8 s: a worker's lease clock starts when it asks, and every claim here is answered 2 s late.)
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct, new Dictionary<string, string>
        {
            ["Workers__FaultInjection__DelayConsuming"] = nameof(ClaimRuns),
            ["Workers__FaultInjection__DelayConsumingBy"] = "00:00:02",
        });
        var settings = new Dictionary<string, string>
        {
            ["Workers__Worker__OfferIdleSlots"] = "false",
            ["Logging__LogLevel__Workers.Worker.Intake.ClaimBatcher"] = "Debug",
        };
        var doomed = await fleet.AddWorkerAsync(slots: 2, Ct, "doomed", settings);
        var answered = await SubmitOneAtATimeAsync(fleet, 1);

        int Claims() => doomed.Output.Count(l => l.Contains("Claiming 1 run", StringComparison.Ordinal));
        var claimsBefore = Claims();
        var unanswered = await fleet.SubmitAsync("count", "claimed by the dead", 5, Ct);
        await Poll.UntilAsync(() => Claims() > claimsBefore, "the worker claims the run", TimeSpan.FromSeconds(30), Ct);
        await Task.Delay(500, Ct); // the request is on its way; its answer comes 2 s after it arrives
        doomed.Kill();
        // Granted, so answered, after the worker died.
        await Poll.UntilAsync(async () => (await fleet.RowsAsync([unanswered], Ct)).Exists(r => (r.State, r.WorkerId) == ("Running", "doomed")),
            "the claim is granted to the dead worker", TimeSpan.FromSeconds(30), Ct);

        await fleet.AddWorkerAsync(slots: 2, Ct, "survivor", settings);
        var later = await SubmitOneAtATimeAsync(fleet, 2);
        await fleet.WaitForTerminalAsync([unanswered], TimeSpan.FromMinutes(1), Ct);

        var first = Assert.Single(await fleet.RowsAsync(answered, Ct));
        Assert.Equal(("Succeeded", "doomed"), (first.State, first.WorkerId));
        var restarted = Assert.Single(await fleet.RowsAsync([unanswered], Ct));
        Assert.Equal(("Succeeded", 2, "survivor"), (restarted.State, restarted.Attempt, restarted.WorkerId));
        Assert.All(await fleet.RowsAsync(later, Ct), r => Assert.Equal(("Succeeded", 1, "survivor"), (r.State, r.Attempt, r.WorkerId)));
        // The answer to the dead worker was dropped by the broker; no send failed and took the saga's endpoint down with it.
        Assert.DoesNotContain(fleet.Orchestrator.Output, line => line.Contains("-FAULT ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_request_that_does_not_ask_for_a_mailbox_answer_is_answered_at_its_own_response_address()
    {
        // Only requests marked by a worker's mailbox clients are answered through the shared exchange; any other MassTransit
        // client gets its answer the usual way.
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct);
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(fleet.Vhost.AmqpUrl));
        await bus.StartAsync(Ct);
        try
        {
            var client = bus.CreateRequestClient<WorkerHeartbeat>();
            var heartbeat = new WorkerHeartbeat { WorkerId = "outsider", HostName = "test", Runtimes = ["process"], Slots = 1, StartedAt = DateTimeOffset.UtcNow };
            var response = await client.GetResponse<LeasesRenewed>(heartbeat, Ct, RequestTimeout.After(s: 30));

            Assert.Equal("outsider", response.Message.WorkerId);
            Assert.Empty(response.Message.Lost);
        }
        finally
        {
            await bus.StopAsync(Ct);
        }
    }

    [Fact]
    public async Task A_run_whose_hand_over_is_lost_with_its_workers_mailbox_restarts_without_spending_its_only_attempt()
    {
        // A broker restart deletes a worker's mailbox, a temporary queue, with the hand-overs in it. Here the mailbox is taken
        // away right after the worker offered slots, and a run allowed one attempt is submitted while the orchestrator still
        // holds that offer: it is handed over into the void. Once the worker has its mailbox again, its heartbeat gives up the
        // offers made before; the orchestrator hands back the run, which never arrived, and it restarts without its attempt
        // counting. (Counted, it would fail: lease lost.) The run misses the offer if the take-away is slow: it then goes
        // through the queue once the mailbox is back, and the spec tries again, at most five times.
        // The hand-back must reach the saga before the lapse: the lease is long enough for MassTransit's reconnection, whose
        // back-off after the failed declarations here has taken up to 8 s.
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct, new Dictionary<string, string>
        {
            ["Workers__Runs__LeaseDuration"] = "00:00:20",
        });
        var worker = await fleet.AddWorkerAsync(slots: 2, Ct, "worker-1", new Dictionary<string, string> { ["Workers__Worker__OfferIdleSlots"] = "true" });
        var mailbox = await MailboxQueueAsync(fleet);

        Guid? lost = null;
        var missed = new List<Guid>();
        for (var attempt = 1; attempt <= 5 && lost is null; attempt++)
        {
            var owner = await fleet.Vhost.QueueOwnerAsync(mailbox, Ct);
            await fleet.WaitForOfferAsync("worker-1", Ct);
            Guid id;
            await using (await fleet.Vhost.TakeQueueAwayAsync(mailbox, owner, Ct))
            {
                id = await fleet.SubmitAsync(new SubmitRunRequest { Agent = "count", Input = $"try {attempt}", Priority = 5, MaxAttempts = 1 }, Ct);
                // Accepted either way: leased to the offer (no dispatch) or queued (dispatched once).
                await Poll.UntilAsync(async () => (await fleet.RowsAsync([id], Ct)).Exists(r => r.State is "Running" or "Queued"),
                    "the run is handed over or queued", TimeSpan.FromSeconds(30), Ct);
                if ((await DispatchCountsAsync(fleet, [id]))[0] == 0)
                {
                    lost = id;
                    await Task.Delay(500, Ct); // the hand-over is routed to a mailbox that is not there, and dropped
                }
                else
                {
                    missed.Add(id);
                }
            }
            await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);
        }
        Report($"tries that missed the offer: {missed.Count}");
        Assert.NotNull(lost);

        var row = Assert.Single(await fleet.RowsAsync([lost.Value], Ct));
        Report($"last error: {row.LastError}");
        Assert.Equal(("Succeeded", 2, "worker-1"), (row.State, row.Attempt, row.WorkerId));
        Assert.Equal([2], fleet.Executions().Where(e => e.RunId == lost).Select(e => e.Attempt));
        Assert.Equal(1, await ReleasedAttemptsAsync(fleet, lost.Value));
        Assert.Contains(worker.Output, l => l.Contains("The mailbox queue was declared again", StringComparison.Ordinal));
        Assert.Contains(fleet.Orchestrator.Output, l => l.Contains($"Run {lost} attempt 1 never reached worker worker-1", StringComparison.Ordinal));
        // The runs that missed the offer waited in the queue for the mailbox and ran once.
        Assert.All(await fleet.RowsAsync(missed, Ct), r => Assert.Equal(("Succeeded", 1), (r.State, r.Attempt)));
    }

    [Fact]
    public async Task A_worker_whose_mailbox_is_down_is_handed_no_run_and_claims_none_until_it_is_back()
    {
        // Claims are answered and runs handed over through the mailbox: a worker without one would take runs it can never be
        // told it holds, and each would lapse, spending an attempt. It makes no offers and leaves dispatches waiting instead.
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct);
        var worker = await fleet.AddWorkerAsync(slots: 2, Ct, "worker-1", new Dictionary<string, string> { ["Workers__Worker__OfferIdleSlots"] = "true" });
        var mailbox = await MailboxQueueAsync(fleet);
        await fleet.WaitForOfferAsync("worker-1", Ct);

        Guid id;
        await using (await fleet.Vhost.TakeQueueAwayAsync(mailbox, cancellationToken: Ct))
        {
            // Until MassTransit reports the mailbox down, the worker cannot know: wait for its failed declaration, and for the
            // last offer made before it to lapse at the orchestrator.
            await Poll.UntilAsync(() => worker.Output.Any(l => l.Contains("Declare queue faulted", StringComparison.Ordinal)),
                "the worker fails to declare its mailbox again", TimeSpan.FromSeconds(30), Ct);
            await Task.Delay(1500, Ct);
            id = await fleet.SubmitAsync(new SubmitRunRequest { Agent = "count", Input = "waits for the mailbox", Priority = 5, MaxAttempts = 1 }, Ct);
            await Task.Delay(3000, Ct);
            var waiting = Assert.Single(await fleet.RowsAsync([id], Ct));
            Assert.Equal(("Queued", 1, null), (waiting.State, waiting.Attempt, waiting.WorkerId));
            // The registry says why: the worker's heartbeats get through and say since when its mailbox has been down, and
            // the run's view says no worker that can take it offers its runtime.
            Assert.NotNull((await WorkerAsync(fleet, "worker-1")).MailboxDownSince);
            await Poll.UntilAsync(async () => (await fleet.GetRunAsync(id, Ct)).WaitingReason?.StartsWith("no live worker offers runtime 'process'", StringComparison.Ordinal) == true,
                "the run's view says why it waits", TimeSpan.FromSeconds(15), Ct);
        }
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);
        await Poll.UntilAsync(async () => (await WorkerAsync(fleet, "worker-1")).MailboxDownSince is null,
            "the registry shows the mailbox back", TimeSpan.FromSeconds(30), Ct);

        var row = Assert.Single(await fleet.RowsAsync([id], Ct));
        Assert.Equal(("Succeeded", 1, "worker-1"), (row.State, row.Attempt, row.WorkerId));
        Assert.Equal([1], fleet.Executions().Select(e => e.Attempt));
        Assert.Equal(0, await ReleasedAttemptsAsync(fleet, id));
    }

    [Fact]
    public async Task A_worker_whose_mailbox_stays_down_while_the_broker_is_reachable_stops_for_its_supervisor_to_start_it_again()
    {
        // MassTransit gives an endpoint up for good after an error it does not know to be passing, and the worker would live
        // on without a mailbox: no run handed to it, no claim or heartbeat answered. Here its mailbox is taken away and kept
        // away while its other queues come back. Past its limit it stops, with the exit code that asks for a restart, and the
        // run that waited meanwhile goes to the next worker, at its first attempt.
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct);
        var stuck = await fleet.AddWorkerAsync(slots: 2, Ct, "worker-1", new Dictionary<string, string>
        {
            ["Workers__Worker__MailboxDownLimit"] = "00:00:05",
        });
        var mailbox = await MailboxQueueAsync(fleet);

        await using (await fleet.Vhost.TakeQueueAwayAsync(mailbox, cancellationToken: Ct))
        {
            await Poll.UntilAsync(() => stuck.Output.Any(l => l.Contains("Declare queue faulted", StringComparison.Ordinal)),
                "the worker fails to declare its mailbox again", TimeSpan.FromSeconds(30), Ct);
            var id = await fleet.SubmitAsync(new SubmitRunRequest { Agent = "count", Input = "waits for a worker", Priority = 5, MaxAttempts = 1 }, Ct);

            Assert.Equal(75, await stuck.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct));
            Assert.Contains(stuck.Output, l => l.Contains("The worker's mailbox has been down since", StringComparison.Ordinal)
                && l.Contains("Stopping with exit code 75", StringComparison.Ordinal));

            await fleet.AddWorkerAsync(slots: 2, Ct, "worker-2");
            await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);
            var row = Assert.Single(await fleet.RowsAsync([id], Ct));
            Assert.Equal(("Succeeded", 1, "worker-2"), (row.State, row.Attempt, row.WorkerId));
            Assert.Equal([1], fleet.Executions().Select(e => e.Attempt));
        }
    }

    static async Task<WorkerView> WorkerAsync(DistributedFleet fleet, string workerId) =>
        Assert.Single(await fleet.Api.GetFromJsonAsync<List<WorkerView>>("api/workers", JsonSerializerOptions.Web, Ct) ?? [], w => w.WorkerId == workerId);

    /// <summary>The queue of the fleet's one worker mailbox, bound to the shared exchange.</summary>
    static async Task<string> MailboxQueueAsync(DistributedFleet fleet)
    {
        var bindings = await fleet.Vhost.GetManagementResourceAsync("exchanges/worker-mailboxes/bindings/source", Ct);
        return Assert.Single(bindings.EnumerateArray()).GetProperty("destination").GetString()!;
    }

    static async Task<int> ReleasedAttemptsAsync(DistributedFleet fleet, Guid id) =>
        (await CountsAsync(fleet, [id], "released_attempts"))[0];

    /// <summary>Submits <paramref name="count"/> <c>count</c> runs, each after the one before has ended (an idle worker every time).</summary>
    static async Task<List<Guid>> SubmitOneAtATimeAsync(DistributedFleet fleet, int count)
    {
        var ids = new List<Guid>();
        for (var i = 0; i < count; i++)
        {
            ids.Add(await fleet.SubmitAsync("count", $"job {i}", 5, Ct));
            await fleet.WaitForTerminalAsync([ids[^1]], TimeSpan.FromSeconds(30), Ct);
        }
        return ids;
    }

    /// <summary>How many times each run was sent to its runtime's queue, in the order of <paramref name="ids"/>.</summary>
    static Task<List<int>> DispatchCountsAsync(DistributedFleet fleet, List<Guid> ids) => CountsAsync(fleet, ids, "dispatch_count");

    /// <summary>An integer column of each run's row (<paramref name="column"/>, a name of this spec's own), in the order of <paramref name="ids"/>.</summary>
    static async Task<List<int>> CountsAsync(DistributedFleet fleet, List<Guid> ids, string column)
    {
        await using var connection = await fleet.Database.OpenConnectionAsync(Ct);
        await using var command = new NpgsqlCommand($"SELECT run_id, {column} FROM runs WHERE run_id = ANY(@ids)", connection);
        command.Parameters.AddWithValue("ids", ids.ToArray());
        var counts = new Dictionary<Guid, int>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
            counts[reader.GetGuid(0)] = reader.GetInt32(1);
        return ids.ConvertAll(id => counts[id]);
    }

    /// <summary>Waits until the run has been dispatched <paramref name="count"/> times; returns its state, dispatches and input.</summary>
    static async Task<(string State, int Dispatches, string Input)> WaitForDispatchesAsync(DistributedFleet fleet, Guid id, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            await using (var connection = await fleet.Database.OpenConnectionAsync(Ct))
            await using (var command = new NpgsqlCommand("SELECT current_state, dispatch_count, input FROM runs WHERE run_id = @id", connection))
            {
                command.Parameters.AddWithValue("id", id);
                await using var reader = await command.ExecuteReaderAsync(Ct);
                if (await reader.ReadAsync(Ct) && reader.GetInt32(1) >= count)
                    return (reader.GetString(0), reader.GetInt32(1), reader.GetString(2));
            }
            Assert.True(DateTime.UtcNow < deadline, $"run {id} was not dispatched {count} times within 30 s");
            await Task.Delay(100, Ct);
        }
    }
}
