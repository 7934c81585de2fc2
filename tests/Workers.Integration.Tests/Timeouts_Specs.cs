using System.Diagnostics;
using Workers.Contracts;
using Workers.Integration.Tests.Fleet;
using Workers.Orchestrator.Api;

namespace Workers.Integration.Tests;

/// <summary>The four timeouts through the real fleet: each ends in its own visible reason, and a stopped agent is really gone.</summary>
public sealed class Timeouts_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_attempt_over_its_start_to_close_timeout_is_killed_on_its_worker_retried_and_the_run_then_times_out()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 1, Ct);
        await fleet.AddWorkerAsync(slots: 2, Ct);

        var id = await fleet.SubmitAsync(new SubmitRunRequest
        {
            Agent = "hang",
            Input = "x",
            Limits = new RunLimits { MaxAttempts = 2, StartToCloseTimeout = TimeSpan.FromSeconds(3), RetryInitialDelay = TimeSpan.FromMilliseconds(200) },
        }, Ct);
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);

        var run = await fleet.GetRunAsync(id, Ct);
        Assert.Equal("TimedOut", run.State);
        Assert.Equal("start-to-close-timeout", run.ErrorKind);
        Assert.Contains("attempt 2 ran longer than its start-to-close timeout (00:00:03)", run.Error, StringComparison.Ordinal);
        Assert.Contains("attempt 2 of 2; no attempts left", run.Error, StringComparison.Ordinal);
        var agents = fleet.HangingAgents().Where(a => a.RunId == id).ToList();
        Assert.Equal([1, 2], agents.Select(a => a.Attempt).Order());
        Assert.All(agents, a => Assert.False(IsAlive(a.Pid), $"the agent of attempt {a.Attempt} (pid {a.Pid}) is still running"));
    }

    [Fact]
    public async Task An_attempt_that_makes_no_progress_while_its_worker_heartbeats_is_stopped_and_the_run_ends_stalled()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 1, Ct);
        await fleet.AddWorkerAsync(slots: 2, Ct);

        var id = await fleet.SubmitAsync(new SubmitRunRequest
        {
            Agent = "hang",
            Input = "x",
            Limits = new RunLimits { MaxAttempts = 3, StallTimeout = TimeSpan.FromSeconds(3) },
        }, Ct);
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);

        var run = await fleet.GetRunAsync(id, Ct);
        Assert.Equal("TimedOut", run.State);
        Assert.Equal("stall-timeout", run.ErrorKind);
        Assert.Contains("made no progress for 00:00:03", run.Error, StringComparison.Ordinal);
        Assert.Equal(1, run.Attempt);
        var agent = Assert.Single(fleet.HangingAgents(), a => a.RunId == id);
        Assert.False(IsAlive(agent.Pid), $"the stalled agent (pid {agent.Pid}) is still running");
    }

    [Fact]
    public async Task A_run_no_worker_starts_in_time_ends_by_its_schedule_to_start_timeout_saying_why()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 1, Ct);

        var id = await fleet.SubmitAsync(new SubmitRunRequest
        {
            Agent = "count",
            Input = "x",
            Limits = new RunLimits { ScheduleToStartTimeout = TimeSpan.FromSeconds(2) },
        }, Ct);
        var waiting = await WaitUntilRecordedAsync(fleet, id);
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);

        Assert.Contains("no live worker offers runtime 'process'", waiting.WaitingReason, StringComparison.Ordinal);
        var run = await fleet.GetRunAsync(id, Ct);
        Assert.Equal("TimedOut", run.State);
        Assert.Equal("schedule-to-start-timeout", run.ErrorKind);
        Assert.Contains("waited in the queue longer than its schedule-to-start timeout (00:00:02)", run.Error, StringComparison.Ordinal);
        Assert.Null(run.StartedAt);
    }

    [Fact]
    public async Task The_event_log_of_a_finished_run_holds_every_event_its_agent_produced_in_order()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 1, Ct);
        await fleet.AddWorkerAsync(slots: 2, Ct);

        var id = await fleet.SubmitAsync("chatty", "the haystack", 5, Ct);
        await fleet.WaitForTerminalAsync([id], TimeSpan.FromMinutes(1), Ct);
        var events = await fleet.EventsAsync(id, Ct);

        Assert.Equal(["message", "tool-started", "tool-completed", "usage"], events.Select(e => e.Type));
        Assert.Equal([1L, 2, 3, 4], events.Select(e => e.Sequence));
        Assert.Equal("looking at the haystack", events[0].Text);
        Assert.Equal(("grep", "needle", "c1"), (events[1].Tool, events[1].Text, events[1].CallId));
        Assert.Equal(("grep", "found it", false), (events[2].Tool, events[2].Text, events[2].IsError));
        Assert.All(events, e => Assert.Equal(1, e.Attempt));
    }

    /// <summary>A submission is accepted before the saga has written its row.</summary>
    static async Task<RunView> WaitUntilRecordedAsync(DistributedFleet fleet, Guid id)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            using var response = await fleet.Api.GetAsync($"api/runs/{id}", Ct);
            if (response.IsSuccessStatusCode)
                return await fleet.GetRunAsync(id, Ct);
            Assert.True(DateTime.UtcNow < deadline, $"run {id} was never recorded");
            await Task.Delay(50, Ct);
        }
    }

    static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
