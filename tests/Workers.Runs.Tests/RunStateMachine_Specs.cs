using MassTransit;
using Workers.Contracts;
using Workers.Runs.Persistence;
using Workers.Runs.StateMachine;
using Workers.Runs.Tests.Support;

namespace Workers.Runs.Tests;

/// <summary>Every transition of the run lifecycle, and the duplicates and stale events that must not move a run.</summary>
public sealed class RunStateMachine_Specs
{
    static SubmitRun Submission(Guid id, string agent = "echo", int priority = 3) =>
        new() { RunId = id, Agent = agent, Input = "hello", Priority = priority, Tenant = "acme" };

    static async Task<(SagaFixture Fixture, Guid RunId, RunClaimed Lease)> Running(RunOptions? options = null, string agent = "echo")
    {
        var fixture = await SagaFixture.StartAsync(options);
        var id = NewId.NextGuid();
        await fixture.Send(Submission(id, agent));
        await fixture.WaitFor(id, m => m.Queued);
        var lease = await fixture.Claim(id, 1);
        await fixture.WaitFor(id, m => m.Running);
        return (fixture, id, lease);
    }

    [Fact]
    public async Task A_valid_submission_is_queued_and_dispatched_with_its_priority()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();

        await fixture.Send(Submission(id, priority: 7));

        var run = await fixture.WaitFor(id, m => m.Queued);
        Assert.Equal(1, run.Attempt);
        Assert.Equal("process", run.Runtime);
        Assert.Equal(3, run.MaxAttempts);
        Assert.Equal("acme", run.Tenant);
        Assert.NotNull(run.RedispatchAt);
        var dispatch = fixture.Harness.Sent.Select<ExecuteRun>(TestContext.Current.CancellationToken).Single(m => m.Context.Message.RunId == id);
        Assert.Equal(7, dispatch.Context.Message.Priority);
        Assert.Equal("process", dispatch.Context.Message.Agent.Runtime);
        Assert.Equal("echo.sh", dispatch.Context.Message.Agent.Settings!.Value.GetProperty("command").GetString());
        Assert.EndsWith("/runs-process", dispatch.Context.DestinationAddress!.AbsolutePath, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_agent_is_rejected_with_a_reason_naming_the_known_agents()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();

        await fixture.Send(Submission(id, agent: "nope"));

        var run = await fixture.WaitFor(id, m => m.Rejected);
        Assert.Contains("unknown agent 'nope'", run.LastError, StringComparison.Ordinal);
        Assert.Contains("echo", run.LastError, StringComparison.Ordinal);
        Assert.True(await fixture.Harness.Published.Any<RunRejected>(m => m.Context.Message.RunId == id, TestContext.Current.CancellationToken));
        Assert.Equal(0, fixture.Dispatches(id, 1));
    }

    [Theory]
    [InlineData(10, "priority 10 is out of range")]
    [InlineData(-1, "priority -1 is out of range")]
    public async Task A_priority_out_of_range_is_rejected(int priority, string reason)
    {
        await using var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();

        await fixture.Send(Submission(id, priority: priority));

        var run = await fixture.WaitFor(id, m => m.Rejected);
        Assert.Contains(reason, run.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Empty_input_is_rejected()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();

        await fixture.Send(Submission(id) with { Input = "  " });

        var run = await fixture.WaitFor(id, m => m.Rejected);
        Assert.Contains("input is empty", run.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_duplicate_submission_creates_no_second_run_and_dispatches_again()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();

        await fixture.Send(Submission(id));
        await fixture.WaitFor(id, m => m.Queued);
        await fixture.Send(Submission(id) with { Input = "changed" });
        await fixture.Consumed<SubmitRun>(id, 2);

        var run = fixture.Saga.Sagas.Contains(id);
        Assert.Equal("hello", run.Input);
        Assert.Equal(1, run.Attempt);
        Assert.Equal(2, fixture.Dispatches(id, 1));
    }

    [Fact]
    public async Task The_first_claim_wins_the_lease_and_others_are_refused()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();
        await fixture.Send(Submission(id));
        await fixture.WaitFor(id, m => m.Queued);

        var claimId = Guid.NewGuid();
        var first = await fixture.Claim(id, 1, claimId);
        var again = await fixture.Claim(id, 1, claimId);
        var other = await fixture.ClaimResponse(id, 1);

        Assert.Equal(first.LeaseId, again.LeaseId);
        Assert.True(other.Is(out Response<ClaimRejected>? rejected));
        Assert.Equal(RunStates.Running, rejected.Message.State);
        var run = await fixture.WaitFor(id, m => m.Running);
        Assert.Equal(first.LeaseId, run.LeaseId);
        Assert.Equal("worker-a", run.WorkerId);
        Assert.Equal(fixture.Time.GetUtcNow() + new RunOptions().LeaseDuration, first.LeaseExpiresAt);
    }

    [Fact]
    public async Task A_claim_for_a_stale_attempt_is_refused()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();
        await fixture.Send(Submission(id));
        await fixture.WaitFor(id, m => m.Queued);

        var response = await fixture.ClaimResponse(id, 2);

        Assert.True(response.Is(out Response<ClaimRejected>? _));
        await fixture.WaitFor(id, m => m.Queued);
    }

    [Fact]
    public async Task A_claim_for_an_unknown_run_is_refused()
    {
        await using var fixture = await SagaFixture.StartAsync();

        var response = await fixture.ClaimResponse(NewId.NextGuid(), 1);

        Assert.True(response.Is(out Response<ClaimRejected>? rejected));
        Assert.Equal("no such run", rejected.Message.Reason);
    }

    [Fact]
    public async Task Success_with_the_current_lease_finishes_the_run_with_its_output_and_usage()
    {
        var (fixture, id, lease) = await Running();
        await using var _ = fixture;

        await fixture.Send(new RunSucceeded
        {
            RunId = id,
            Attempt = 1,
            LeaseId = lease.LeaseId,
            WorkerId = "worker-a",
            Output = "done",
            Usage = new RunUsage { Steps = 4, ToolCalls = 2, InputTokens = 100, OutputTokens = 20, CostUsd = 0.01m },
        });

        var run = await fixture.WaitFor(id, m => m.Succeeded);
        Assert.Equal("done", run.Output);
        Assert.Equal(4, run.Steps);
        Assert.Equal(100, run.InputTokens);
        Assert.NotNull(run.FinishedAt);
        Assert.Null(run.DueAt);
    }

    [Fact]
    public async Task An_event_with_a_stale_lease_is_ignored()
    {
        var (fixture, id, _) = await Running();
        await using var __ = fixture;

        await fixture.Send(new RunSucceeded { RunId = id, Attempt = 1, LeaseId = Guid.NewGuid(), Output = "forged" });
        await fixture.Consumed<RunSucceeded>(id);

        var run = fixture.Saga.Sagas.Contains(id);
        Assert.Equal(RunStates.Running, run.CurrentState);
        Assert.Null(run.Output);
    }

    [Fact]
    public async Task A_result_arriving_before_any_claim_is_ignored()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();
        await fixture.Send(Submission(id));
        await fixture.WaitFor(id, m => m.Queued);

        await fixture.Send(new RunFailed { RunId = id, Attempt = 1, LeaseId = Guid.NewGuid(), Error = "early", Retryable = false });
        await fixture.Consumed<RunFailed>(id);

        Assert.Equal(RunStates.Queued, fixture.Saga.Sagas.Contains(id).CurrentState);
    }

    [Fact]
    public async Task A_retryable_failure_waits_for_its_backoff_then_dispatches_the_next_attempt()
    {
        var (fixture, id, lease) = await Running();
        await using var _ = fixture;

        await fixture.Send(new RunFailed { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, Error = "exit code 3", Kind = "exit-code", Retryable = true });
        var waiting = await fixture.WaitFor(id, m => m.RetryScheduled);
        Assert.NotNull(waiting.NextAttemptAt);
        Assert.Contains("exit code 3", waiting.LastError, StringComparison.Ordinal);

        // Too early: the timer is re-checked against the row and ignored.
        await fixture.Send(new RetryDelayElapsed { RunId = id, Attempt = 1 });
        await fixture.Consumed<RetryDelayElapsed>(id);
        Assert.Equal(RunStates.RetryScheduled, fixture.Saga.Sagas.Contains(id).CurrentState);

        fixture.Time.Advance(TimeSpan.FromMinutes(2));
        await fixture.Send(new RetryDelayElapsed { RunId = id, Attempt = 1 });
        var requeued = await fixture.WaitFor(id, m => m.Queued);
        Assert.Equal(2, requeued.Attempt);
        Assert.Equal(1, fixture.Dispatches(id, 2));

        // The first attempt's lease no longer counts.
        await fixture.Send(new RunSucceeded { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, Output = "late" });
        await fixture.Consumed<RunSucceeded>(id);
        Assert.Equal(RunStates.Queued, fixture.Saga.Sagas.Contains(id).CurrentState);
    }

    [Fact]
    public async Task A_non_retryable_failure_fails_the_run_at_once()
    {
        var (fixture, id, lease) = await Running();
        await using var _ = fixture;

        await fixture.Send(new RunFailed { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, Error = "bad input", Kind = "agent-error", Retryable = false });

        var run = await fixture.WaitFor(id, m => m.Failed);
        Assert.Contains("bad input", run.LastError, StringComparison.Ordinal);
        Assert.Contains("not retryable", run.LastError, StringComparison.Ordinal);
        Assert.Equal("agent-error", run.ErrorKind);
        Assert.Equal(1, run.Attempt);
    }

    [Fact]
    public async Task The_last_attempt_failing_fails_the_run_saying_no_attempts_are_left()
    {
        var (fixture, id, lease) = await Running(agent: "strict");
        await using var _ = fixture;

        await fixture.Send(new RunFailed { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, Error = "boom", Retryable = true });

        var run = await fixture.WaitFor(id, m => m.Failed);
        Assert.Contains("no attempts left", run.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lease_expiry_restarts_the_run_at_once_but_only_once_the_lease_has_really_lapsed()
    {
        var (fixture, id, lease) = await Running();
        await using var _ = fixture;

        // A heartbeat renewed it after the sweeper looked: not expired yet, ignored.
        await fixture.Send(new LeaseExpired { RunId = id, Attempt = 1, LeaseId = lease.LeaseId });
        await fixture.Consumed<LeaseExpired>(id);
        Assert.Equal(RunStates.Running, fixture.Saga.Sagas.Contains(id).CurrentState);

        fixture.Time.Advance(TimeSpan.FromSeconds(11));
        await fixture.Send(new LeaseExpired { RunId = id, Attempt = 1, LeaseId = lease.LeaseId });

        // No backoff: the lease was the wait. The attempt counts, and the next one is dispatched straight away.
        var run = await fixture.WaitFor(id, m => m.Queued);
        Assert.Equal(2, run.Attempt);
        Assert.Null(run.NextAttemptAt);
        Assert.Null(run.LeaseExpiresAt);
        Assert.Equal("lease-expired", run.ErrorKind);
        Assert.Contains("worker-a", run.LastError, StringComparison.Ordinal);
        await fixture.WaitForSent<ExecuteRun>(m => m.RunId == id && m.Attempt == 2);
    }

    [Fact]
    public async Task A_worker_reporting_that_its_own_lease_clock_ran_out_gets_the_next_attempt_started_at_once()
    {
        var (fixture, id, lease) = await Running();
        await using var _ = fixture;

        await fixture.Send(new RunFailed
        {
            RunId = id,
            Attempt = 1,
            LeaseId = lease.LeaseId,
            Error = "the orchestrator did not renew the lease in time",
            Retryable = true,
            Kind = RunLifecycle.LeaseExpiredKind,
        });

        var run = await fixture.WaitFor(id, m => m.Queued);
        Assert.Equal(2, run.Attempt);
        Assert.Null(run.NextAttemptAt);
        Assert.Equal(RunLifecycle.LeaseExpiredKind, run.ErrorKind);
    }

    [Fact]
    public async Task A_running_attempt_its_worker_reports_cancelled_without_a_cancel_request_is_retried_not_cancelled()
    {
        var (fixture, id, lease) = await Running();
        await using var _ = fixture;

        // No CancelRun, no timeout: the run is still Running when its worker says it stopped the attempt.
        await fixture.Send(new RunCancelled { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, WorkerId = "worker-a", Reason = "lease expired" });

        var run = await fixture.WaitFor(id, m => m.RetryScheduled);
        Assert.Equal(RunLifecycle.UnrequestedStopKind, run.ErrorKind);
        Assert.Contains("stopped by worker 'worker-a' without a cancel request: lease expired", run.LastError, StringComparison.Ordinal);
        Assert.Null(run.CancelRequestedAt);
        Assert.Null(run.FinishedAt);
        Assert.NotNull(run.NextAttemptAt);
    }

    [Fact]
    public async Task Cancelling_a_queued_run_cancels_it_at_once_and_refuses_later_claims()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();
        await fixture.Send(Submission(id));
        await fixture.WaitFor(id, m => m.Queued);

        await fixture.Send(new CancelRun { RunId = id, Reason = "not needed" });
        var run = await fixture.WaitFor(id, m => m.Cancelled);
        var claim = await fixture.ClaimResponse(id, 1);

        Assert.Contains("not needed", run.LastError, StringComparison.Ordinal);
        Assert.True(claim.Is(out Response<ClaimRejected>? _));
    }

    [Fact]
    public async Task Cancelling_a_running_run_tells_its_worker_and_ends_when_the_worker_reports()
    {
        var (fixture, id, lease) = await Running();
        await using var _ = fixture;

        await fixture.Send(new CancelRun { RunId = id, Reason = "user asked" });
        await fixture.WaitFor(id, m => m.Cancelling);
        await fixture.WaitForSent<StopRun>(m => m.RunId == id && m.LeaseId == lease.LeaseId);

        await fixture.Send(new RunCancelled { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, Reason = "stopped" });
        var run = await fixture.WaitFor(id, m => m.Cancelled);
        Assert.Contains("user asked", run.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancelling_a_finished_run_changes_nothing()
    {
        var (fixture, id, lease) = await Running();
        await using var _ = fixture;
        await fixture.Send(new RunSucceeded { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, Output = "done" });
        await fixture.WaitFor(id, m => m.Succeeded);

        await fixture.Send(new CancelRun { RunId = id });
        await fixture.Consumed<CancelRun>(id);

        var run = fixture.Saga.Sagas.Contains(id);
        Assert.Equal(RunStates.Succeeded, run.CurrentState);
        Assert.Equal("done", run.Output);
    }

    [Fact]
    public async Task An_unclaimed_dispatch_is_sent_again_when_its_timer_fires()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();
        await fixture.Send(Submission(id));
        var queued = await fixture.WaitFor(id, m => m.Queued);
        var firstDue = queued.RedispatchAt;

        await fixture.Send(new DispatchElapsed { RunId = id, Attempt = 1 });
        await fixture.Consumed<DispatchElapsed>(id);

        var run = fixture.Saga.Sagas.Contains(id);
        Assert.Equal(2, fixture.Dispatches(id, 1));
        Assert.Equal(2, run.DispatchCount);
        Assert.True(run.RedispatchAt > firstDue, "the re-dispatch wait grows");
    }

    [Fact]
    public async Task A_dispatch_overtaken_in_its_queue_is_sent_again()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var waiting = NewId.NextGuid();
        await fixture.Send(Submission(waiting, priority: 5));
        await fixture.WaitFor(waiting, m => m.Queued);
        fixture.Time.Advance(TimeSpan.FromSeconds(1));
        // Queued later at the same priority, yet claimed first: the first run's dispatch cannot still be ahead of it.
        var later = NewId.NextGuid();
        await fixture.Send(Submission(later, priority: 5));
        await fixture.WaitFor(later, m => m.Queued);
        await fixture.Claim(later, 1);
        fixture.Time.Advance(TimeSpan.FromSeconds(30));

        await fixture.Send(new DispatchElapsed { RunId = waiting, Attempt = 1 });
        await fixture.Consumed<DispatchElapsed>(waiting);

        Assert.Equal(2, fixture.Dispatches(waiting, 1));
    }

    [Fact]
    public async Task A_dispatch_behind_a_backlog_being_worked_through_waits_and_is_sent_again_once_the_queue_goes_quiet()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var low = NewId.NextGuid();
        await fixture.Send(Submission(low, priority: 1));
        await fixture.WaitFor(low, m => m.Queued);
        fixture.Time.Advance(TimeSpan.FromSeconds(40));
        // Workers are busy with higher priorities: nothing queued after the low run at its priority or below was claimed.
        var high = NewId.NextGuid();
        await fixture.Send(Submission(high, priority: 7));
        await fixture.WaitFor(high, m => m.Queued);
        await fixture.Claim(high, 1);

        await fixture.Send(new DispatchElapsed { RunId = low, Attempt = 1 });
        await fixture.Consumed<DispatchElapsed>(low);

        var run = fixture.Saga.Sagas.Contains(low);
        Assert.Equal(1, fixture.Dispatches(low, 1));
        Assert.Equal(1, run.DispatchCount);
        // The next look comes after as long again as it has waited (40 s), not after the 30 s base delay.
        Assert.Equal(fixture.Time.GetUtcNow() + TimeSpan.FromSeconds(40), run.RedispatchAt);

        // No lease granted on the runtime for a whole re-dispatch delay: nobody is working the queue, so send it again.
        fixture.Time.Advance(TimeSpan.FromSeconds(40));
        await fixture.Send(new DispatchElapsed { RunId = low, Attempt = 1 });
        await fixture.Consumed<DispatchElapsed>(low, 2);

        Assert.Equal(2, fixture.Dispatches(low, 1));
    }

    [Fact]
    public async Task A_released_attempt_is_dispatched_again_at_once_and_does_not_count()
    {
        var (fixture, id, lease) = await Running(agent: "strict");
        await using var _ = fixture;

        await fixture.Send(new RunReleased { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, WorkerId = "worker-a", Reason = "worker shutting down" });
        var requeued = await fixture.WaitFor(id, m => m.Queued);
        Assert.Equal(2, requeued.Attempt);
        Assert.Equal(1, requeued.ReleasedAttempts);
        Assert.Equal("released", requeued.ErrorKind);
        Assert.Equal(1, fixture.Dispatches(id, 2));

        // The agent allows one attempt; the released one did not count, so this is it, and it may still fail retryably once.
        var second = await fixture.Claim(id, 2);
        await fixture.Send(new RunFailed { RunId = id, Attempt = 2, LeaseId = second.LeaseId, Error = "boom", Retryable = true });
        var failed = await fixture.WaitFor(id, m => m.Failed);
        Assert.Contains("attempt 1 of 1", failed.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_hand_back_that_comes_after_its_lease_lapsed_takes_the_lapsed_attempt_off_the_count()
    {
        // Two attempts allowed. Attempt 1's hand-over never reached its worker, and its lease lapsed before the worker's
        // heartbeat said so: the lapse counted it, the hand-back takes it off again.
        var (fixture, id, lease) = await Running(agent: "patient");
        await using var _ = fixture;
        fixture.Time.Advance(TimeSpan.FromSeconds(11));
        await fixture.Send(new LeaseExpired { RunId = id, Attempt = 1, LeaseId = lease.LeaseId });
        await fixture.WaitFor(id, m => m.Queued);

        await fixture.Send(new RunReleased { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, WorkerId = "worker-a", Reason = RunStore.NeverDeliveredReason });
        await fixture.Consumed<RunReleased>(id);
        var refunded = fixture.Saga.Sagas.Contains(id);
        Assert.Equal((RunStates.Queued, 2, 1, RunLifecycle.ReleasedKind), (refunded.CurrentState, refunded.Attempt, refunded.ReleasedAttempts, refunded.ErrorKind));
        Assert.Contains("attempt 1 handed back by worker 'worker-a' after its lease had lapsed: not started", refunded.LastError, StringComparison.Ordinal);
        Assert.Equal(1, fixture.Dispatches(id, 2));

        // The same hand-back again changes nothing.
        await fixture.Send(new RunReleased { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, WorkerId = "worker-a", Reason = RunStore.NeverDeliveredReason });
        await fixture.Consumed<RunReleased>(id, 2);
        Assert.Equal(1, fixture.Saga.Sagas.Contains(id).ReleasedAttempts);

        // Attempt 2 loses its lease too, and still has one behind it: only one of the two allowed has been spent.
        var second = await fixture.Claim(id, 2);
        fixture.Time.Advance(TimeSpan.FromSeconds(11));
        await fixture.Send(new LeaseExpired { RunId = id, Attempt = 2, LeaseId = second.LeaseId });
        var third = await fixture.WaitFor(id, m => m.Queued);
        Assert.Equal((3, RunLifecycle.LeaseExpiredKind), (third.Attempt, third.ErrorKind));
    }

    [Fact]
    public async Task A_release_during_cancellation_ends_the_run_cancelled()
    {
        var (fixture, id, lease) = await Running();
        await using var _ = fixture;
        await fixture.Send(new CancelRun { RunId = id, Reason = "stop" });
        await fixture.WaitFor(id, m => m.Cancelling);

        await fixture.Send(new RunReleased { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, WorkerId = "worker-a" });

        await fixture.WaitFor(id, m => m.Cancelled);
        Assert.Equal(0, fixture.Dispatches(id, 2));
    }

    [Fact]
    public async Task Without_an_explicit_runtime_the_agents_first_runtime_a_live_worker_offers_is_chosen()
    {
        await using var fixture = await SagaFixture.StartAsync(live: new FixedLiveRuntimes("process"));
        var id = NewId.NextGuid();

        await fixture.Send(Submission(id, agent: "multi"));

        Assert.Equal("process", (await fixture.WaitFor(id, m => m.Queued)).Runtime);
    }

    [Fact]
    public async Task When_no_live_worker_offers_any_of_its_runtimes_the_agents_first_runtime_is_chosen()
    {
        await using var fixture = await SagaFixture.StartAsync(live: new FixedLiveRuntimes());
        var id = NewId.NextGuid();

        await fixture.Send(Submission(id, agent: "multi"));

        Assert.Equal("alpha", (await fixture.WaitFor(id, m => m.Queued)).Runtime);
    }

    [Fact]
    public async Task A_late_success_while_the_next_attempt_is_queued_but_unclaimed_is_kept_and_the_next_attempt_refused()
    {
        var (fixture, id, lease) = await Running();
        await using var _ = fixture;
        fixture.Time.Advance(TimeSpan.FromSeconds(11));
        await fixture.Send(new LeaseExpired { RunId = id, Attempt = 1, LeaseId = lease.LeaseId });
        await fixture.WaitFor(id, m => m.Queued);

        // The result was held up (the broker was down) and arrives after the lease lapsed.
        await fixture.Send(new RunSucceeded { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, Output = "done late" });
        var run = await fixture.WaitFor(id, m => m.Succeeded);
        var claim = await fixture.ClaimResponse(id, 2);

        Assert.True(claim.Is(out Response<ClaimRejected>? _));
        Assert.Equal("done late", run.Output);
        // The run ended as the attempt that did the work, not as the one queued after it.
        Assert.Equal(1, run.Attempt);
    }

    [Fact]
    public async Task A_lost_lease_with_no_attempts_left_fails_the_run_and_a_late_success_is_then_not_kept()
    {
        var (fixture, id, lease) = await Running(agent: "strict");
        await using var _ = fixture;
        fixture.Time.Advance(TimeSpan.FromSeconds(11));
        await fixture.Send(new LeaseExpired { RunId = id, Attempt = 1, LeaseId = lease.LeaseId });
        var failed = await fixture.WaitFor(id, m => m.Failed);
        Assert.Equal(1, failed.Attempt);
        Assert.Contains("lost its lease", failed.LastError, StringComparison.Ordinal);
        Assert.Contains("no attempts left", failed.LastError, StringComparison.Ordinal);

        await fixture.Send(new RunSucceeded { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, Output = "too late" });
        await fixture.Consumed<RunSucceeded>(id);

        var run = fixture.Saga.Sagas.Contains(id);
        Assert.Equal(RunStates.Failed, run.CurrentState);
        Assert.Null(run.Output);
    }

    [Fact]
    public async Task A_late_success_is_ignored_once_a_later_attempt_holds_the_lease()
    {
        var (fixture, id, lease) = await Running();
        await using var _ = fixture;
        fixture.Time.Advance(TimeSpan.FromSeconds(11));
        await fixture.Send(new LeaseExpired { RunId = id, Attempt = 1, LeaseId = lease.LeaseId });
        await fixture.WaitFor(id, m => m.Queued);
        await fixture.Claim(id, 2);

        await fixture.Send(new RunSucceeded { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, Output = "too late" });
        await fixture.Consumed<RunSucceeded>(id);

        var run = fixture.Saga.Sagas.Contains(id);
        Assert.Equal(RunStates.Running, run.CurrentState);
        Assert.Null(run.Output);
    }

    [Fact]
    public async Task The_next_attempt_after_a_lost_lease_goes_to_the_head_of_its_queue()
    {
        var (fixture, id, lease) = await Running();
        await using var _ = fixture;
        fixture.Time.Advance(TimeSpan.FromSeconds(11));
        await fixture.Send(new LeaseExpired { RunId = id, Attempt = 1, LeaseId = lease.LeaseId });
        await fixture.WaitFor(id, m => m.Queued);

        var first = fixture.Harness.Sent.Select<ExecuteRun>(TestContext.Current.CancellationToken).Single(m => m.Context.Message.RunId == id && m.Context.Message.Attempt == 1);
        var restart = fixture.Harness.Sent.Select<ExecuteRun>(TestContext.Current.CancellationToken).Single(m => m.Context.Message.RunId == id && m.Context.Message.Attempt == 2);
        Assert.Equal(3, first.Context.Message.Priority);
        Assert.Equal(10, restart.Context.Message.Priority);
        // Announced, so a worker holding a lower dispatch for a slot steps aside for it.
        var notice = fixture.Harness.Published.Select<RestartQueued>(TestContext.Current.CancellationToken).Single(m => m.Context.Message.RunId == id);
        Assert.Equal((2, restart.Context.Message.Agent.Runtime, 10), (notice.Context.Message.Attempt, notice.Context.Message.Runtime, notice.Context.Message.Priority));
    }

    [Fact]
    public async Task The_next_attempt_after_a_failure_keeps_the_runs_priority()
    {
        var (fixture, id, lease) = await Running();
        await using var _ = fixture;
        await fixture.Send(new RunFailed { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, Error = "x", Retryable = true });
        await fixture.WaitFor(id, m => m.RetryScheduled);
        fixture.Time.Advance(TimeSpan.FromMinutes(2));

        await fixture.Send(new RetryDelayElapsed { RunId = id, Attempt = 1 });
        await fixture.WaitFor(id, m => m.Queued);

        var retry = fixture.Harness.Sent.Select<ExecuteRun>(TestContext.Current.CancellationToken).Single(m => m.Context.Message.RunId == id && m.Context.Message.Attempt == 2);
        Assert.Equal(3, retry.Context.Message.Priority);
        Assert.False(await fixture.Harness.Published.Any<RestartQueued>(m => m.Context.Message.RunId == id, TestContext.Current.CancellationToken));
    }
}
