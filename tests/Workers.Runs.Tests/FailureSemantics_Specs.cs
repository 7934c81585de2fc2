using MassTransit;
using Workers.Contracts;
using Workers.Runs.StateMachine;
using Workers.Runs.Tests.Support;

namespace Workers.Runs.Tests;

/// <summary>Timeouts and the retry policy: what ends a run, what retries it, and where each limit comes from.</summary>
public sealed class FailureSemantics_Specs
{
    static SubmitRun Submission(Guid id, RunLimits? limits = null, string agent = "echo") =>
        new() { RunId = id, Agent = agent, Input = "hello", Priority = 3, Limits = limits };

    static async Task<(SagaFixture Fixture, Guid RunId, RunClaimed Lease)> Running(RunLimits limits, string agent = "echo")
    {
        var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();
        await fixture.Send(Submission(id, limits, agent));
        await fixture.WaitFor(id, m => m.Queued);
        var lease = await fixture.Claim(id, 1);
        await fixture.WaitFor(id, m => m.Running);
        return (fixture, id, lease);
    }

    static RunCancelled Stopped(Guid id, RunClaimed lease) =>
        new() { RunId = id, Attempt = lease.Attempt, LeaseId = lease.LeaseId, WorkerId = "worker-a", Reason = "stopped" };

    [Fact]
    public async Task A_queued_attempt_nobody_starts_times_out_by_its_schedule_to_start_timeout_and_later_claims_are_refused()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();
        await fixture.Send(Submission(id, new RunLimits { ScheduleToStartTimeout = TimeSpan.FromSeconds(20) }));
        var queued = await fixture.WaitFor(id, m => m.Queued);
        // The sweeper looks at the run when the timeout passes, not only at its (later) re-dispatch.
        Assert.Equal(queued.QueuedAt + TimeSpan.FromSeconds(20), queued.DueAt);

        await fixture.Send(new DeadlineElapsed { RunId = id, Attempt = 1 });
        await fixture.Consumed<DeadlineElapsed>(id);
        Assert.Equal(RunStates.Queued, fixture.Saga.Sagas.Contains(id).CurrentState);

        fixture.Time.Advance(TimeSpan.FromSeconds(21));
        await fixture.Send(new DeadlineElapsed { RunId = id, Attempt = 1 });
        var run = await fixture.WaitFor(id, m => m.TimedOut);
        var claim = await fixture.ClaimResponse(id, 1);

        Assert.Equal(TimeoutKinds.ScheduleToStart, run.ErrorKind);
        Assert.Contains("schedule-to-start timeout (00:00:20)", run.LastError, StringComparison.Ordinal);
        Assert.NotNull(run.FinishedAt);
        Assert.Null(run.DueAt);
        Assert.True(claim.Is(out Response<ClaimRejected>? _));
    }

    [Fact]
    public async Task An_attempt_over_its_start_to_close_timeout_is_stopped_on_its_worker_then_retried_then_times_out_when_none_are_left()
    {
        var (fixture, id, lease) = await Running(new RunLimits { StartToCloseTimeout = TimeSpan.FromMinutes(1), MaxAttempts = 2 });
        await using var _ = fixture;
        Assert.Equal(fixture.Time.GetUtcNow() + new RunOptions().LeaseDuration, fixture.Saga.Sagas.Contains(id).DueAt);

        fixture.Time.Advance(TimeSpan.FromSeconds(61));
        await fixture.Send(new DeadlineElapsed { RunId = id, Attempt = 1 });
        var stopping = await fixture.WaitFor(id, m => m.TimingOut);
        Assert.Equal(TimeoutKinds.StartToClose, stopping.ErrorKind);
        await fixture.WaitForSent<StopRun>(m => m.RunId == id && m.LeaseId == lease.LeaseId);
        // Until the worker confirms, the run is not handed to anyone else.
        Assert.True((await fixture.ClaimResponse(id, 1)).Is(out Response<ClaimRejected>? refused));
        Assert.Equal(RunStates.TimingOut, refused.Message.State);

        await fixture.Send(Stopped(id, lease));
        var retrying = await fixture.WaitFor(id, m => m.RetryScheduled);
        Assert.Contains("start-to-close timeout (00:01:00)", retrying.LastError, StringComparison.Ordinal);

        fixture.Time.Advance(TimeSpan.FromMinutes(2));
        await fixture.Send(new RetryDelayElapsed { RunId = id, Attempt = 1 });
        await fixture.WaitFor(id, m => m.Queued);
        var second = await fixture.Claim(id, 2);
        fixture.Time.Advance(TimeSpan.FromSeconds(61));
        await fixture.Send(new DeadlineElapsed { RunId = id, Attempt = 2 });
        await fixture.WaitFor(id, m => m.TimingOut);

        // This worker never answers: the attempt ends when its lease lapses (it can no longer be running then).
        fixture.Time.Advance(TimeSpan.FromSeconds(11));
        await fixture.Send(new LeaseExpired { RunId = id, Attempt = 2, LeaseId = second.LeaseId });
        var run = await fixture.WaitFor(id, m => m.TimedOut);

        Assert.Equal(TimeoutKinds.StartToClose, run.ErrorKind);
        Assert.Contains("attempt 2 of 2; no attempts left", run.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_schedule_to_close_timeout_ends_the_run_even_with_attempts_left()
    {
        var (fixture, id, lease) = await Running(new RunLimits { ScheduleToCloseTimeout = TimeSpan.FromMinutes(5), MaxAttempts = 5 });
        await using var _ = fixture;

        fixture.Time.Advance(TimeSpan.FromMinutes(5));
        await fixture.Send(new DeadlineElapsed { RunId = id, Attempt = 1 });
        await fixture.WaitFor(id, m => m.TimingOut);
        await fixture.Send(Stopped(id, lease));
        var run = await fixture.WaitFor(id, m => m.TimedOut);

        Assert.Equal(TimeoutKinds.ScheduleToClose, run.ErrorKind);
        Assert.Contains("schedule-to-close timeout (00:05:00)", run.LastError, StringComparison.Ordinal);
        Assert.Equal(1, run.Attempt);
    }

    [Fact]
    public async Task The_schedule_to_close_timeout_also_ends_a_run_waiting_for_its_next_attempt()
    {
        var (fixture, id, lease) = await Running(new RunLimits
        {
            ScheduleToCloseTimeout = TimeSpan.FromMinutes(5),
            RetryInitialDelay = TimeSpan.FromMinutes(10),
            RetryMaxDelay = TimeSpan.FromMinutes(10)
        });
        await using var _ = fixture;
        await fixture.Send(new RunFailed { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, Error = "boom", Kind = "exit-code", Retryable = true });
        var waiting = await fixture.WaitFor(id, m => m.RetryScheduled);
        Assert.Equal(waiting.SubmittedAt + TimeSpan.FromMinutes(5), waiting.DueAt);

        fixture.Time.Advance(TimeSpan.FromMinutes(6));
        await fixture.Send(new DeadlineElapsed { RunId = id, Attempt = 1 });
        var run = await fixture.WaitFor(id, m => m.TimedOut);

        Assert.Equal(TimeoutKinds.ScheduleToClose, run.ErrorKind);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_stalled_attempt_is_stopped_and_ends_the_run_unless_retry_on_stall_is_set(bool retryOnStall)
    {
        var (fixture, id, lease) = await Running(new RunLimits { StallTimeout = TimeSpan.FromSeconds(30), RetryOnStall = retryOnStall });
        await using var _ = fixture;
        var started = fixture.Saga.Sagas.Contains(id);
        Assert.Equal(started.AttemptStartedAt + TimeSpan.FromSeconds(30), started.StallDeadlineAt);

        fixture.Time.Advance(TimeSpan.FromSeconds(30));
        await fixture.Send(new DeadlineElapsed { RunId = id, Attempt = 1 });
        var stopping = await fixture.WaitFor(id, m => m.TimingOut);
        Assert.Contains("made no progress for 00:00:30", stopping.LastError, StringComparison.Ordinal);
        await fixture.Send(Stopped(id, lease) with { Usage = new RunUsage { Steps = 4 } });

        var run = retryOnStall ? await fixture.WaitFor(id, m => m.RetryScheduled) : await fixture.WaitFor(id, m => m.TimedOut);
        Assert.Equal(TimeoutKinds.Stall, run.ErrorKind);
        Assert.Equal(4, run.Steps);
    }

    [Fact]
    public async Task An_attempt_that_succeeds_before_the_stop_reaches_it_keeps_its_result()
    {
        var (fixture, id, lease) = await Running(new RunLimits { StartToCloseTimeout = TimeSpan.FromSeconds(30) });
        await using var _ = fixture;
        fixture.Time.Advance(TimeSpan.FromSeconds(31));
        await fixture.Send(new DeadlineElapsed { RunId = id, Attempt = 1 });
        await fixture.WaitFor(id, m => m.TimingOut);

        await fixture.Send(new RunSucceeded { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, Output = "just in time" });

        var run = await fixture.WaitFor(id, m => m.Succeeded);
        Assert.Equal("just in time", run.Output);
    }

    [Fact]
    public async Task Cancelling_a_run_that_is_timing_out_ends_it_cancelled()
    {
        var (fixture, id, lease) = await Running(new RunLimits { StartToCloseTimeout = TimeSpan.FromSeconds(30) });
        await using var _ = fixture;
        fixture.Time.Advance(TimeSpan.FromSeconds(31));
        await fixture.Send(new DeadlineElapsed { RunId = id, Attempt = 1 });
        await fixture.WaitFor(id, m => m.TimingOut);

        await fixture.Send(new CancelRun { RunId = id, Reason = "give up" });
        await fixture.WaitFor(id, m => m.Cancelling);
        await fixture.Send(Stopped(id, lease));

        var run = await fixture.WaitFor(id, m => m.Cancelled);
        Assert.Contains("give up", run.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_agents_limits_apply_unless_the_request_overrides_them()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var fromAgent = NewId.NextGuid();
        var overridden = NewId.NextGuid();

        await fixture.Send(Submission(fromAgent, agent: "patient"));
        await fixture.Send(Submission(overridden, new RunLimits { MaxAttempts = 4, StartToCloseTimeout = TimeSpan.FromMinutes(1) }, agent: "patient"));
        var agentOnly = await fixture.WaitFor(fromAgent, m => m.Queued);
        var request = await fixture.WaitFor(overridden, m => m.Queued);

        Assert.Equal((2, TimeSpan.FromMinutes(10), TimeSpan.FromHours(1)), (agentOnly.MaxAttempts, agentOnly.StartToCloseTimeout!.Value, agentOnly.ScheduleToStartTimeout!.Value));
        Assert.Equal((4, TimeSpan.FromMinutes(1), TimeSpan.FromHours(1)), (request.MaxAttempts, request.StartToCloseTimeout!.Value, request.ScheduleToStartTimeout!.Value));
        Assert.Null(request.StallTimeout);
    }

    [Fact]
    public async Task The_retry_backoff_comes_from_the_runs_policy_and_never_exceeds_its_maximum()
    {
        var (fixture, id, lease) = await Running(new RunLimits { MaxAttempts = 5, RetryInitialDelay = TimeSpan.FromSeconds(10), RetryMaxDelay = TimeSpan.FromSeconds(12) });
        await using var _ = fixture;
        var failedAt = fixture.Time.GetUtcNow();

        await fixture.Send(new RunFailed { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, Error = "boom", Kind = "exit-code", Retryable = true });
        var first = await fixture.WaitFor(id, m => m.RetryScheduled);
        var firstDelay = first.NextAttemptAt!.Value - failedAt;
        fixture.Time.Advance(TimeSpan.FromSeconds(13));
        await fixture.Send(new RetryDelayElapsed { RunId = id, Attempt = 1 });
        await fixture.WaitFor(id, m => m.Queued);
        var second = await fixture.Claim(id, 2);
        var secondFailedAt = fixture.Time.GetUtcNow();
        await fixture.Send(new RunFailed { RunId = id, Attempt = 2, LeaseId = second.LeaseId, Error = "boom", Kind = "exit-code", Retryable = true });
        var again = await fixture.WaitFor(id, m => m.RetryScheduled);
        var secondDelay = again.NextAttemptAt!.Value - secondFailedAt;

        // 10 s ± 20% jitter, then 20 s ± 20% capped at 12 s.
        Assert.InRange(firstDelay, TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(12));
        Assert.InRange(secondDelay, TimeSpan.FromSeconds(9.6), TimeSpan.FromSeconds(12));
    }

    [Fact]
    public async Task A_failure_kind_the_policy_lists_as_non_retryable_ends_the_run_at_once_even_if_the_agent_would_retry()
    {
        var (fixture, id, lease) = await Running(new RunLimits { MaxAttempts = 5, NonRetryableErrors = ["no-result"] }, agent: "patient");
        await using var _ = fixture;
        Assert.Equal("exit-code,no-result", fixture.Saga.Sagas.Contains(id).NonRetryableErrors);

        await fixture.Send(new RunFailed { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, Error = "exit 3", Kind = "exit-code", Retryable = true });

        var run = await fixture.WaitFor(id, m => m.Failed);
        Assert.Equal("exit-code", run.ErrorKind);
        Assert.Contains("not retryable", run.LastError, StringComparison.Ordinal);
        Assert.Equal(1, run.Attempt);
    }

    [Theory]
    [InlineData("stall", "limits.stallTimeout 00:00:00 is out of range")]
    [InlineData("delays", "limits.retryMaxDelay (00:00:01) is shorter than retryInitialDelay (00:00:05)")]
    [InlineData("kinds", "limits.nonRetryableErrors has an invalid kind 'a,b'")]
    public async Task Limits_that_make_no_sense_reject_the_run_with_the_fix(string what, string reason)
    {
        await using var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();
        var limits = what switch
        {
            "stall" => new RunLimits { StallTimeout = TimeSpan.Zero },
            "delays" => new RunLimits { RetryInitialDelay = TimeSpan.FromSeconds(5), RetryMaxDelay = TimeSpan.FromSeconds(1) },
            _ => new RunLimits { NonRetryableErrors = ["a,b"] },
        };

        await fixture.Send(Submission(id, limits));

        var run = await fixture.WaitFor(id, m => m.Rejected);
        Assert.Contains(reason, run.LastError, StringComparison.Ordinal);
    }
}
