using Npgsql;
using Workers.Contracts;
using Workers.Integration.Tests.Fleet;
using Workers.Orchestrator.Api;
using Workers.Testing;

namespace Workers.Integration.Tests;

/// <summary>
/// Crashes injected at the worst moments (Workers:FaultInjection): between the saga's commit and its outgoing message,
/// between a worker's claim and its first event, and a run that kills every worker it reaches. None leaves a run stuck.
/// </summary>
public sealed class CrashGaps_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_orchestrator_that_dies_after_committing_a_run_but_before_dispatching_it_leaves_nothing_stuck()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0.2, Ct, new Dictionary<string, string>
        {
            ["Workers__FaultInjection__CrashBeforeSending"] = nameof(ExecuteRun),
        });
        // A worker that offers no slots, so the run goes through the queue (the gap before a hand-over is the next spec's).
        await fleet.AddWorkerAsync(slots: 2, Ct, settings: new Dictionary<string, string> { ["Workers__Worker__OfferIdleSlots"] = "false" });

        var id = await fleet.SubmitAsync("count", "after the gap", 5, Ct);
        Assert.NotEqual(0, await fleet.Orchestrator.WaitForExitAsync(TimeSpan.FromSeconds(30), Ct));
        // The transition was committed (the run is Queued) and its dispatch never left.
        var stranded = Assert.Single(await fleet.RowsAsync([id], Ct));
        Assert.Equal("Queued", stranded.State);
        Assert.Empty(fleet.Executions());

        await fleet.RestartOrchestratorAsync(Ct, new Dictionary<string, string> { ["Workers__Runs__RedispatchDelay"] = "00:00:02" });
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);

        var row = Assert.Single(await fleet.RowsAsync([id], Ct));
        Assert.Equal("Succeeded", row.State);
        Assert.Equal(1, row.Attempt);
        Assert.Single(fleet.Executions(), e => e.RunId == id);
    }

    [Fact]
    public async Task An_orchestrator_that_dies_after_leasing_a_run_to_an_offered_slot_but_before_handing_it_over_leaves_nothing_stuck()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0.2, Ct, new Dictionary<string, string>
        {
            ["Workers__FaultInjection__CrashBeforeSending"] = nameof(RunAssigned),
        });
        await fleet.AddWorkerAsync(slots: 2, Ct, "worker-1", new Dictionary<string, string> { ["Workers__Worker__OfferIdleSlots"] = "true" });

        // An offer lapses a second after it arrives, so on a loaded machine a run can miss it and take the queue instead:
        // that run simply succeeds. Submit again after the worker's next offer until one is handed over.
        var id = Guid.Empty;
        for (var tries = 1; !fleet.Orchestrator.HasExited; tries++)
        {
            Assert.True(tries <= 5, "no run was leased to an offered slot in 5 tries");
            await fleet.WaitForOfferAsync("worker-1", Ct);
            id = await fleet.SubmitAsync("count", "after the gap", 5, Ct);
            await Poll.UntilAsync(async () => fleet.Orchestrator.HasExited || (await fleet.RowsAsync([id], Ct)).Exists(r => r.State == "Succeeded"),
                $"run {id} crashes the orchestrator or succeeds", TimeSpan.FromSeconds(30), Ct);
        }
        Assert.NotEqual(0, await fleet.Orchestrator.WaitForExitAsync(TimeSpan.FromSeconds(5), Ct));
        // The lease was committed and the worker never heard of it: nothing renews it.
        var stranded = Assert.Single(await fleet.RowsAsync([id], Ct));
        Assert.Equal(("Running", "worker-1"), (stranded.State, stranded.WorkerId));
        Assert.DoesNotContain(fleet.Executions(), e => e.RunId == id);

        await fleet.RestartOrchestratorAsync(Ct);
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);

        var row = Assert.Single(await fleet.RowsAsync([id], Ct));
        Assert.Equal(("Succeeded", 2), (row.State, row.Attempt));
        Assert.Single(fleet.Executions(), e => e.RunId == id);
    }

    [Fact]
    public async Task A_worker_that_dies_between_its_claim_and_its_first_event_has_the_run_retried_elsewhere()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0.2, Ct);
        var doomed = await fleet.AddWorkerAsync(slots: 2, Ct, "doomed", new Dictionary<string, string>
        {
            ["Workers__FaultInjection__CrashAfterClaimWhenInputContains"] = "gap",
        });

        var id = await fleet.SubmitAsync("count", "claim gap", 5, Ct);
        Assert.NotEqual(0, await doomed.WaitForExitAsync(TimeSpan.FromSeconds(30), Ct));
        var claimed = Assert.Single(await fleet.RowsAsync([id], Ct));
        Assert.Equal(("Running", "doomed"), (claimed.State, claimed.WorkerId));

        await fleet.AddWorkerAsync(slots: 2, Ct, "survivor");
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);

        var row = Assert.Single(await fleet.RowsAsync([id], Ct));
        Assert.Equal(("Succeeded", 2, "survivor"), (row.State, row.Attempt, row.WorkerId));
        Assert.Contains("lost its lease", row.LastError, StringComparison.Ordinal);
        Assert.Equal([2], fleet.Executions().Where(e => e.RunId == id).Select(e => e.Attempt));
    }

    [Fact]
    public async Task A_run_that_crashes_every_worker_it_reaches_stops_after_its_attempts_while_other_runs_finish()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0.2, Ct);
        var poisonous = new Dictionary<string, string> { ["Workers__FaultInjection__CrashAfterClaimWhenInputContains"] = "poison" };
        for (var i = 1; i <= 3; i++)
            await fleet.AddWorkerAsync(slots: 2, Ct, $"worker-{i}", poisonous);

        var poison = await fleet.SubmitAsync(new SubmitRunRequest { Agent = "count", Input = "poison", Limits = new RunLimits { MaxAttempts = 2 } }, Ct);
        var healthy = await fleet.SubmitManyAsync(Enumerable.Range(0, 6).Select(i => ("count", $"fine {i}", 5)), Ct);
        await fleet.WaitForTerminalAsync([poison, .. healthy], TimeSpan.FromMinutes(2), Ct);

        var poisoned = await fleet.GetRunAsync(poison, Ct);
        Assert.Equal(("Failed", 2, "lease-expired"), (poisoned.State, poisoned.Attempt, poisoned.ErrorKind));
        Assert.Contains("attempt 2 of 2; no attempts left", poisoned.Error, StringComparison.Ordinal);
        Assert.All(await fleet.RowsAsync(healthy, Ct), r => Assert.Equal("Succeeded", r.State));
        Assert.Equal(2, fleet.Workers.Count(w => w.HasExited));
        await using var connection = await fleet.Database.OpenConnectionAsync(Ct);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM runs WHERE run_id = @id AND attempt = 2 AND max_attempts = 2", connection);
        command.Parameters.AddWithValue("id", poison);
        Assert.Equal(1L, await command.ExecuteScalarAsync(Ct));
    }
}
