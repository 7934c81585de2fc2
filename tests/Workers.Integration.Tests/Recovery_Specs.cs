using Npgsql;
using Workers.Contracts;
using Workers.Integration.Tests.Fleet;
using Workers.Orchestrator.Api;
using Workers.Testing;

namespace Workers.Integration.Tests;

/// <summary>What happens when a worker dies: its runs are retried elsewhere once their leases lapse, never run twice at once.</summary>
public sealed class Recovery_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_killed_workers_runs_are_retried_on_another_worker_and_none_runs_twice_at_once()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 4, Ct);
        var doomed = await fleet.AddWorkerAsync(slots: 4, Ct, "worker-1");
        await fleet.AddWorkerAsync(slots: 4, Ct, "worker-2");

        var ids = await fleet.SubmitManyAsync(Enumerable.Range(0, 8).Select(i => ("count", $"job {i}", 5)), Ct);
        await WaitUntilRunningOnAsync(fleet, "worker-1", 2);

        var leasedToDoomed = (await fleet.RowsAsync(ids, Ct)).Where(r => (r.State, r.WorkerId) == ("Running", "worker-1")).Select(r => r.RunId).ToList();
        var killedAt = DateTimeOffset.UtcNow;
        doomed.Kill(); // SIGKILL to the worker and its agents, as when its container dies
        await fleet.WaitForTerminalAsync(ids, TimeSpan.FromMinutes(2), Ct);

        var rows = await fleet.RowsAsync(ids, Ct);
        Assert.All(rows, r => Assert.Equal("Succeeded", r.State));
        // What the killed worker held runs again on the survivor. (Another run may have a second attempt too: one handed to a
        // worker whose offered slot was gone when it arrived is handed back, on a loaded machine, and that attempt is free.)
        Assert.True(leasedToDoomed.Count >= 2, $"{leasedToDoomed.Count} runs leased to worker-1 at the kill");
        var retried = rows.Where(r => leasedToDoomed.Contains(r.RunId)).ToList();
        Assert.All(retried, r =>
        {
            Assert.Equal((2, "worker-2"), (r.Attempt, r.WorkerId));
            Assert.Contains("lost its lease", r.LastError, StringComparison.Ordinal);
        });

        // The agent logs each execution that ran to its end: every run exactly once, executions of a run never overlapping.
        var executions = fleet.Executions();
        Assert.Equal(ids.Count, executions.Count);
        Assert.Equal(ids.ToHashSet(), executions.Select(e => e.RunId).ToHashSet());
        var restart = executions.Where(e => e.Attempt == 2).Max(e => DateTimeOffset.FromUnixTimeMilliseconds(e.StartNs / 1_000_000)) - killedAt;
        TestContext.Current.TestOutputHelper?.WriteLine($"{retried.Count} runs retried; last one restarted {restart.TotalSeconds:0.0} s after the kill");
    }

    [Fact]
    public async Task A_claim_granted_after_the_workers_lease_clock_ran_out_is_never_started_and_counts_as_a_lost_lease_not_a_cancel()
    {
        // An orchestrator that takes longer than a lease to judge claims: each grant reaches the worker after the lease has
        // lapsed on the worker's clock (which starts when it asks), while the orchestrator's own clock (which starts at the
        // grant) still runs. The worker must not start the agent, and the run must be retried, not end as cancelled.
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 1, Ct, new Dictionary<string, string>
        {
            ["Workers__Runs__LeaseDuration"] = "00:00:02",
            ["Workers__FaultInjection__DelayConsuming"] = "ClaimRuns",
            ["Workers__FaultInjection__DelayConsumingBy"] = "00:00:03",
        });
        // Through the queue and a claim: a worker that offers no slots.
        await fleet.AddWorkerAsync(slots: 2, Ct, settings: new Dictionary<string, string> { ["Workers__Worker__OfferIdleSlots"] = "false" });

        var id = await fleet.SubmitAsync(new SubmitRunRequest { Agent = "hang", Input = "never starts", MaxAttempts = 2 }, Ct);
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);

        var run = await fleet.GetRunAsync(id, Ct);
        Assert.Equal("Failed", run.State);
        Assert.Equal(FailureKinds.LeaseExpired, run.ErrorKind);
        Assert.Equal(2, run.Attempt);
        Assert.Contains("lapsed on the worker's clock", run.Error, StringComparison.Ordinal);
        Assert.Empty(fleet.HangingAgents());
    }

    [Fact]
    public async Task A_worker_cut_off_from_the_orchestrator_kills_its_agent_when_the_lease_lapses_before_the_run_restarts()
    {
        // The worker's heartbeats reach the orchestrator only after a minute, so no renewal is answered and each one waits
        // two heartbeat intervals (4 s) before it gives up, while the worker still reaches the broker for everything else.
        // The 3 s lease lapses on both clocks at about the same moment; the orchestrator then restarts the run on the same
        // worker. The agent ignores SIGTERM, so a worker that noticed the lapse only between heartbeats, or gave the agent
        // its 5 s termination grace, would run attempt 1 beside attempt 2.
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 1, Ct, new Dictionary<string, string>
        {
            ["Workers__Runs__LeaseDuration"] = "00:00:03",
            ["Workers__FaultInjection__DelayConsuming"] = "WorkerHeartbeat",
            ["Workers__FaultInjection__DelayConsumingBy"] = "00:01:00",
        });
        // It never registers (its heartbeats are held); the dispatch waits on the runtime's queue until it starts.
        await fleet.AddWorkerAsync(slots: 2, Ct, awaitRegistration: false);

        var id = await fleet.SubmitAsync(new SubmitRunRequest { Agent = "stubborn", Input = "ignore SIGTERM", MaxAttempts = 2 }, Ct);
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);

        var run = await fleet.GetRunAsync(id, Ct);
        Assert.Equal("Failed", run.State);
        Assert.Equal(2, run.Attempt);
        Assert.Equal(FailureKinds.LeaseExpired, run.ErrorKind);
        var ticks = fleet.StubbornTicks().Where(t => t.RunId == id).ToList();
        var first = ticks.Where(t => t.Attempt == 1).ToList();
        var second = ticks.Where(t => t.Attempt == 2).ToList();
        Assert.NotEmpty(first);
        Assert.NotEmpty(second);
        var gap = second.Min(t => t.At) - first.Max(t => t.At);
        TestContext.Current.TestOutputHelper?.WriteLine($"attempt 1 ticked for {(first.Max(t => t.At) - first.Min(t => t.At)).TotalSeconds:0.00} s; " +
            $"attempt 2 started {gap.TotalSeconds:0.00} s after its last tick");
        Assert.True(gap > TimeSpan.Zero, $"attempt 1 still ran {-gap.TotalSeconds:0.00} s after attempt 2 started");
        // Both agents are gone (killed and reaped), although neither exits on SIGTERM.
        var pids = ticks.Select(t => t.Pid).Distinct().ToList();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (pids.Any(pid => Directory.Exists($"/proc/{pid}")) && DateTime.UtcNow < deadline)
            await Task.Delay(50, Ct);
        Assert.All(pids, pid => Assert.False(Directory.Exists($"/proc/{pid}"), $"agent {pid} still runs"));
    }

    [Fact]
    public async Task A_run_that_ends_while_the_broker_is_out_of_reach_is_reported_when_it_is_back_and_not_run_again()
    {
        // A broker outage longer than a lease, for the orchestrator and the worker alike: the agent ends meanwhile and the
        // worker keeps its result until it has reconnected. The orchestrator heard no renewals while cut off, which says nothing
        // about the worker: it judges the lapsed lease only once it has listened again for long enough, and the worker,
        // reconnecting on its own schedule (seconds behind it), reports first. Judged at once, the only attempt would be lost.
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 1, Ct);
        await fleet.AddWorkerAsync(slots: 2, Ct, "worker-1");
        var id = await fleet.SubmitAsync(new SubmitRunRequest { Agent = "count", Input = "ends during the outage", MaxAttempts = 1 }, Ct);
        await WaitUntilRunningOnAsync(fleet, "worker-1", 1);

        await using (await fleet.Vhost.CutOffAsync(Ct))
        {
            await Poll.UntilAsync(() => fleet.Executions().Exists(e => e.RunId == id), "the agent ends", TimeSpan.FromSeconds(30), Ct);
            await Poll.UntilAsync(async () => await LeaseExpiresAtAsync(fleet, id) < DateTimeOffset.UtcNow.AddSeconds(-1),
                "the lease lapses at the orchestrator", TimeSpan.FromSeconds(30), Ct);
        }
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);

        var row = Assert.Single(await fleet.RowsAsync([id], Ct));
        Assert.Equal(("Succeeded", 1, null), (row.State, row.Attempt, row.LastError));
        Assert.Single(fleet.Executions(), e => e.RunId == id);
        Assert.Contains(fleet.Orchestrator.Output, l => l.Contains("lapsed while heartbeats could not reach this orchestrator", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_worker_cut_off_from_the_broker_for_longer_than_its_mailbox_limit_waits_for_the_broker_instead_of_stopping()
    {
        // While the broker is out of reach every queue of the worker is down, its mailbox with them. That time does not count
        // towards the mailbox's limit (MailboxWatch): an outage would otherwise stop every worker of the fleet at once. (After
        // the outage each endpoint reconnects on its own back-off, seconds apart; the default limit of two minutes is well past
        // MassTransit's longest, 30 s, but the 3 s here is not, so the spec ends with the outage.)
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct);
        var worker = await fleet.AddWorkerAsync(slots: 2, Ct, "worker-1", new Dictionary<string, string>
        {
            ["Workers__Worker__MailboxDownLimit"] = "00:00:03",
        });

        await using (await fleet.Vhost.CutOffAsync(Ct))
        {
            await Poll.UntilAsync(() => worker.Output.Any(l => l.Contains("The worker's mailbox is down", StringComparison.Ordinal)),
                "the worker's mailbox goes down with its connection", TimeSpan.FromSeconds(30), Ct);
            await Task.Delay(TimeSpan.FromSeconds(8), Ct);
            Assert.False(worker.HasExited, $"the worker stopped while cut off: {worker.OutputTail()}");
        }
    }

    [Fact]
    public async Task A_worker_whose_heartbeats_the_broker_refuses_says_so_sends_no_more_of_them_and_works_once_they_are_taken()
    {
        // A refused publish closes its channel, and MassTransit retries the send on a new one, backing off, for as long as
        // the refusal lasts; its request completes only once the send has, whatever its timeout. The heartbeat loop waited
        // inside it, silent. It now says so, and sends no other heartbeat (each would retry the same way) until it is done.
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct);
        var worker = await fleet.AddWorkerAsync(slots: 2, Ct, "worker-1");

        await using (await fleet.Vhost.RefusePublishesToAsync("Workers.Contracts:WorkerHeartbeat", Ct))
        {
            await Poll.UntilAsync(() => worker.Output.Count(l => l.Contains("Heartbeat skipped: the one started", StringComparison.Ordinal)) >= 2,
                "the worker says its heartbeat is stuck, and sends no other", TimeSpan.FromSeconds(30), Ct);
            Assert.Single(worker.Output, l => l.Contains("neither answered nor timed out", StringComparison.Ordinal));
            Assert.False(worker.HasExited, $"the worker stopped: {worker.OutputTail()}");
        }

        var id = await fleet.SubmitAsync(new SubmitRunRequest { Agent = "count", Input = "after the refusal", MaxAttempts = 1 }, Ct);
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);
        var row = Assert.Single(await fleet.RowsAsync([id], Ct));
        Assert.Equal(("Succeeded", 1, "worker-1"), (row.State, row.Attempt, row.WorkerId));
    }

    static async Task<DateTimeOffset> LeaseExpiresAtAsync(DistributedFleet fleet, Guid id)
    {
        await using var connection = await fleet.Database.OpenConnectionAsync(Ct);
        await using var command = new NpgsqlCommand("SELECT lease_expires_at FROM runs WHERE run_id = @id", connection);
        command.Parameters.AddWithValue("id", id);
        return new DateTimeOffset((DateTime)(await command.ExecuteScalarAsync(Ct))!);
    }

    [Fact]
    public async Task A_worker_told_a_later_attempt_holds_its_lease_kills_the_agent_at_once_where_a_cancel_stops_it_gracefully()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 1, Ct);
        await fleet.AddWorkerAsync(slots: 2, Ct, "worker-1");
        var superseded = await fleet.SubmitAsync(new SubmitRunRequest { Agent = "stubborn", Input = "superseded" }, Ct);
        var cancelled = await fleet.SubmitAsync(new SubmitRunRequest { Agent = "stubborn", Input = "cancelled" }, Ct);
        var pids = await WaitForTicksAsync(fleet, [superseded, cancelled]);

        // What an orchestrator whose clock ran ahead would leave behind: it judged the lease lapsed and granted attempt 2 to
        // another worker. The next heartbeat's answer says the lease is superseded, which is not a graceful stop.
        await using (var connection = await fleet.Database.OpenConnectionAsync(Ct))
        {
            await using var command = new NpgsqlCommand("""
                UPDATE runs SET attempt = attempt + 1, lease_id = @lease, worker_id = 'worker-elsewhere',
                    lease_expires_at = now() + interval '1 hour', version = version + 1
                WHERE run_id = @run
                """, connection);
            command.Parameters.AddWithValue("lease", Guid.NewGuid());
            command.Parameters.AddWithValue("run", superseded);
            Assert.Equal(1, await command.ExecuteNonQueryAsync(Ct));
        }
        using (var cancel = await fleet.Api.PostAsync($"api/runs/{cancelled}/cancel", null, Ct))
            Assert.Equal(System.Net.HttpStatusCode.Accepted, cancel.StatusCode);

        // Both agents end (neither exits on SIGTERM, so both get SIGKILL in the end)...
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (pids.Values.Any(pid => Directory.Exists($"/proc/{pid}")) && DateTime.UtcNow < deadline)
            await Task.Delay(50, Ct);
        Assert.All(pids.Values, pid => Assert.False(Directory.Exists($"/proc/{pid}"), $"agent {pid} still runs"));
        // ...but only the cancelled one was asked first: the superseded one never saw a SIGTERM or a grace period.
        var terms = fleet.StubbornTerms();
        Assert.Contains(terms, t => t.RunId == cancelled && t.Pid == pids[cancelled]);
        Assert.DoesNotContain(terms, t => t.RunId == superseded);
        // The agent is gone before its worker's report reaches the saga, so wait for the row rather than read it at once.
        await fleet.WaitForTerminalAsync([cancelled], TimeSpan.FromSeconds(30), Ct);
        Assert.Equal("Cancelled", (await fleet.GetRunAsync(cancelled, Ct)).State);
    }

    [Fact]
    public async Task A_restarted_run_overtakes_the_dispatch_a_busy_worker_holds_for_its_next_free_slot()
    {
        // Default leases (8 s): the killed worker's run restarts well before the survivor's 14 s run ends and frees its only
        // slot, and a loaded machine that answers a heartbeat late does not cost the restarted attempt its lease.
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 14, Ct);
        // Once busy, the doomed worker puts back what it holds within a second, so the survivor's run reaches the survivor.
        var doomed = await fleet.AddWorkerAsync(slots: 1, Ct, "worker-doomed",
            new Dictionary<string, string> { ["Workers__Worker__SlotWaitTimeout"] = "00:00:01" });
        var lost = await fleet.SubmitAsync("count", "lost with its worker", 5, Ct);
        await WaitUntilRunningOnAsync(fleet, "worker-doomed", 1);
        await fleet.AddWorkerAsync(slots: 1, Ct, "worker-busy");
        var busy = await fleet.SubmitAsync("count", "keeps the survivor busy", 5, Ct);
        await WaitUntilRunningOnAsync(fleet, "worker-busy", 1);

        doomed.Kill();
        // The survivor's consumer takes this dispatch and holds it for its next free slot; a prefetched message cannot be
        // overtaken in the broker, so without a word from the orchestrator the restart would wait behind it.
        var waiting = await fleet.SubmitAsync("count", "waits for the slot", 0, Ct);
        await fleet.WaitForTerminalAsync([lost, busy, waiting], TimeSpan.FromMinutes(2), Ct);

        Assert.All(await fleet.RowsAsync([lost, busy, waiting], Ct), r => Assert.Equal("Succeeded", r.State));
        var executions = fleet.Executions();
        var restart = Assert.Single(executions, e => e.RunId == lost);
        var next = Assert.Single(executions, e => e.RunId == waiting);
        Assert.Equal(2, restart.Attempt);
        Assert.True(restart.StartNs < next.StartNs,
            $"the run waiting for the slot started {(restart.StartNs - next.StartNs) / 1e9:0.00} s before the restart");
    }

    /// <summary>Waits until the <c>stubborn</c> agent ticks for each run; returns each one's agent pid.</summary>
    static async Task<Dictionary<Guid, int>> WaitForTicksAsync(DistributedFleet fleet, IReadOnlyCollection<Guid> runIds)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var pids = fleet.StubbornTicks().Where(t => runIds.Contains(t.RunId)).GroupBy(t => t.RunId).ToDictionary(g => g.Key, g => g.First().Pid);
            if (pids.Count == runIds.Count)
                return pids;
            Assert.True(DateTime.UtcNow < deadline, "the stubborn agents never started");
            await Task.Delay(50, Ct);
        }
    }

    /// <summary>
    /// Waits until <paramref name="count"/> runs hold a lease on <paramref name="worker"/> and their agents have started there:
    /// a run handed to an idle worker is leased before the worker has it.
    /// </summary>
    static async Task WaitUntilRunningOnAsync(DistributedFleet fleet, string worker, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            await using var connection = await fleet.Database.OpenConnectionAsync(Ct);
            await using var command = new NpgsqlCommand("SELECT run_id, attempt FROM runs WHERE current_state = 'Running' AND worker_id = @w", connection);
            command.Parameters.AddWithValue("w", worker);
            var running = new List<(Guid, int)>();
            await using (var reader = await command.ExecuteReaderAsync(Ct))
            {
                while (await reader.ReadAsync(Ct))
                    running.Add((reader.GetGuid(0), reader.GetInt32(1)));
            }
            var started = fleet.Started();
            if (running.Count(started.Contains) >= count)
                return;
            Assert.True(DateTime.UtcNow < deadline, $"{worker} never held {count} running runs");
            await Task.Delay(100, Ct);
        }
    }

    [Fact]
    public async Task A_draining_worker_finishes_what_fits_in_its_grace_period_and_exits_cleanly()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 2, Ct);
        var worker = await fleet.AddWorkerAsync(slots: 2, Ct, "worker-1",
            new Dictionary<string, string> { ["Workers__Worker__ShutdownGracePeriod"] = "00:00:20" });
        var id = await fleet.SubmitAsync("count", "finish me", 5, Ct);
        await WaitUntilRunningOnAsync(fleet, "worker-1", 1);

        var exit = await worker.StopAsync(TimeSpan.FromSeconds(40), Ct);
        // The worker reported the result before it exited; the saga records it moments later.
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(0, exit);
        var row = Assert.Single(await fleet.RowsAsync([id], Ct));
        Assert.Equal("Succeeded", row.State);
        Assert.Equal(1, row.Attempt);
        Assert.Single(fleet.Executions());
    }

    [Fact]
    public async Task A_draining_worker_hands_back_what_it_cannot_finish_and_it_restarts_elsewhere_without_spending_an_attempt()
    {
        // Long enough that the run is still going when the drain begins, even if worker-2 is slow to register.
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 15, Ct);
        var draining = await fleet.AddWorkerAsync(slots: 2, Ct, "worker-1",
            new Dictionary<string, string> { ["Workers__Worker__ShutdownGracePeriod"] = "00:00:01" });
        var id = await fleet.SubmitAsync("count", "hand me back", 5, Ct);
        await WaitUntilRunningOnAsync(fleet, "worker-1", 1);
        await fleet.AddWorkerAsync(slots: 2, Ct, "worker-2");

        Assert.Equal(0, await draining.StopAsync(TimeSpan.FromSeconds(30), Ct));
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);

        var row = Assert.Single(await fleet.RowsAsync([id], Ct));
        Assert.Equal("Succeeded", row.State);
        Assert.Equal(2, row.Attempt);
        Assert.Equal("worker-2", row.WorkerId);
        Assert.Contains("handed back by worker 'worker-1'", row.LastError, StringComparison.Ordinal);
        // The stopped execution never reached its end; only the one on worker-2 did.
        Assert.Equal("worker-2", row.WorkerId);
        Assert.Single(fleet.Executions());
    }

    [Fact]
    public async Task A_dispatch_waiting_for_a_slot_when_the_drain_begins_goes_back_to_the_queue_and_runs_elsewhere()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 4, Ct);
        var draining = await fleet.AddWorkerAsync(slots: 1, Ct, "worker-1",
            new Dictionary<string, string> { ["Workers__Worker__ShutdownGracePeriod"] = "00:00:20" });
        var first = await fleet.SubmitAsync("count", "in the slot", 5, Ct);
        await WaitUntilRunningOnAsync(fleet, "worker-1", 1);
        // The only slot is busy: this dispatch is delivered to worker-1 and waits there for the slot.
        var second = await fleet.SubmitAsync("count", "waiting for the slot", 5, Ct);
        await Task.Delay(500, Ct);

        var exit = await draining.StopAsync(TimeSpan.FromSeconds(30), Ct);
        await fleet.AddWorkerAsync(slots: 1, Ct, "worker-2");
        await fleet.WaitForTerminalAsync([first, second], TimeSpan.FromMinutes(1), Ct);

        Assert.Equal(0, exit);
        var rows = (await fleet.RowsAsync([first, second], Ct)).ToDictionary(r => r.RunId);
        Assert.Equal(("Succeeded", "worker-1", 1), (rows[first].State, rows[first].WorkerId, rows[first].Attempt));
        Assert.Equal(("Succeeded", "worker-2", 1), (rows[second].State, rows[second].WorkerId, rows[second].Attempt));
        Assert.Equal(2, fleet.Executions().Count);
    }
}
