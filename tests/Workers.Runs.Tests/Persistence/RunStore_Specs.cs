using MassTransit;
using Workers.Contracts;
using Workers.Runs.Persistence;
using Workers.Runs.StateMachine;

namespace Workers.Runs.Tests.Persistence;

/// <summary>The saga-state table on real PostgreSQL and SQLite.</summary>
public sealed class RunStore_Specs
{
    static readonly DateTimeOffset Now = new(2026, 3, 1, 9, 0, 0, TimeSpan.Zero);

    public static TheoryData<string> Providers => [nameof(StoreProvider.Postgres), nameof(StoreProvider.Sqlite)];

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_run_round_trips_every_column(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        var run = StoreFixture.NewRun(Now);
        run.Tenant = "acme";
        run.LabelsJson = """{"team":"a"}""";
        run.LeaseId = Guid.NewGuid();
        run.LeaseExpiresAt = Now.AddSeconds(10);
        run.CostUsd = 0.123456m;
        run.OutputTokens = 5_000_000_000;
        await fixture.Store.InsertAsync(run, Ct);

        var loaded = await fixture.Store.LoadAsync(run.CorrelationId, Ct);

        Assert.NotNull(loaded);
        Assert.Equal(run.CorrelationId, loaded.CorrelationId);
        Assert.Equal("acme", loaded.Tenant);
        Assert.Equal(run.LabelsJson, loaded.LabelsJson);
        Assert.Equal(run.LeaseId, loaded.LeaseId);
        Assert.Equal(run.LeaseExpiresAt, loaded.LeaseExpiresAt);
        Assert.Equal(Now, loaded.SubmittedAt);
        Assert.Equal(0.123456m, loaded.CostUsd);
        Assert.Equal(5_000_000_000, loaded.OutputTokens);
        Assert.Equal(1, loaded.Version);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Concurrent_updates_to_one_run_never_lose_a_transition(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        var run = StoreFixture.NewRun(Now);
        await fixture.Store.InsertAsync(run, Ct);
        const int writers = 8;
        const int incrementsEach = 25;
        var conflicts = 0;

        // Each writer does what the saga does: load, change, write back guarded by the version, retry on conflict.
        await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < incrementsEach; i++)
            {
                while (true)
                {
                    var current = (await fixture.Store.LoadAsync(run.CorrelationId, Ct))!;
                    current.Steps++;
                    try
                    {
                        await fixture.Store.UpdateAsync(current, Ct);
                        break;
                    }
                    catch (ConcurrencyException)
                    {
                        Interlocked.Increment(ref conflicts);
                    }
                }
            }
        }, Ct)));

        var final = (await fixture.Store.LoadAsync(run.CorrelationId, Ct))!;
        Assert.Equal(writers * incrementsEach, final.Steps);
        Assert.Equal(1 + (writers * incrementsEach), final.Version);
        TestContext.Current.TestOutputHelper?.WriteLine($"{provider}: {conflicts} conflicts retried");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_stale_write_is_refused(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        var run = StoreFixture.NewRun(Now);
        await fixture.Store.InsertAsync(run, Ct);
        var first = (await fixture.Store.LoadAsync(run.CorrelationId, Ct))!;
        var second = (await fixture.Store.LoadAsync(run.CorrelationId, Ct))!;

        first.CurrentState = RunStates.Running;
        await fixture.Store.UpdateAsync(first, Ct);
        second.CurrentState = RunStates.Cancelled;

        await Assert.ThrowsAsync<ConcurrencyException>(() => fixture.Store.UpdateAsync(second, Ct));
        Assert.Equal(RunStates.Running, (await fixture.Store.LoadAsync(run.CorrelationId, Ct))!.CurrentState);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Inserting_a_run_twice_is_a_concurrency_conflict(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        var run = StoreFixture.NewRun(Now);
        await fixture.Store.InsertAsync(run, Ct);

        var duplicate = StoreFixture.NewRun(Now);
        duplicate.CorrelationId = run.CorrelationId;

        await Assert.ThrowsAsync<ConcurrencyException>(() => fixture.Store.InsertAsync(duplicate, Ct));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Inserts_at_once_each_get_their_own_outcome_and_a_bad_row_fails_only_itself(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        var existing = StoreFixture.NewRun(Now);
        existing.Input = "first";
        await fixture.Store.InsertAsync(existing, Ct);

        var fresh = Enumerable.Range(0, 200).Select(_ => StoreFixture.NewRun(Now)).ToList();
        var duplicate = StoreFixture.NewRun(Now);
        duplicate.CorrelationId = existing.CorrelationId;
        duplicate.Input = "second";
        var bad = StoreFixture.NewRun(Now);
        bad.Runtime = null!; // NOT NULL: the database refuses this row.

        // All asked for together, the duplicate and the bad row in the middle, so they share groups with good runs.
        var all = fresh.Take(100).Append(duplicate).Append(bad).Concat(fresh.Skip(100)).ToList();
        var outcomes = await Task.WhenAll(all.Select(run => Task.Run(async () =>
        {
            try
            {
                await fixture.Store.InsertAsync(run, Ct);
                return null;
            }
            catch (Exception ex)
            {
                return ex;
            }
        }, Ct)));

        var byRun = all.Zip(outcomes).ToDictionary(p => p.First, p => p.Second);
        Assert.IsType<ConcurrencyException>(byRun[duplicate]);
        Assert.IsNotType<ConcurrencyException>(byRun[bad]);
        Assert.IsAssignableFrom<System.Data.Common.DbException>(byRun[bad]);
        Assert.All(fresh, run => Assert.Null(byRun[run]));
        var stored = await fixture.Store.LoadManyAsync(fresh.Select(r => r.CorrelationId).Append(bad.CorrelationId).ToList(), Ct);
        Assert.Equal(fresh.Select(r => r.CorrelationId).Order(), stored.Keys.Order());
        Assert.Equal("first", (await fixture.Store.LoadAsync(existing.CorrelationId, Ct))!.Input);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task The_sweeper_takes_each_due_timer_once_and_pushes_it_to_its_recheck_time(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        var due = StoreFixture.NewRun(Now, RunStates.Running);
        due.LeaseId = Guid.NewGuid();
        due.LeaseExpiresAt = Now.AddSeconds(-1);
        var later = StoreFixture.NewRun(Now, RunStates.RetryScheduled);
        later.NextAttemptAt = Now.AddMinutes(5);
        var finished = StoreFixture.NewRun(Now, RunStates.Succeeded);
        foreach (var run in new[] { due, later, finished })
            await fixture.Store.InsertAsync(run, Ct);

        var first = await fixture.Store.TakeDueAsync(Now, Now.AddSeconds(30), 100, Ct);
        var again = await fixture.Store.TakeDueAsync(Now, Now.AddSeconds(30), 100, Ct);
        var afterRecheck = await fixture.Store.TakeDueAsync(Now.AddSeconds(31), Now.AddSeconds(61), 100, Ct);

        var taken = Assert.Single(first);
        Assert.Equal(due.CorrelationId, taken.RunId);
        Assert.Equal(RunStates.Running, taken.State);
        Assert.Equal(due.LeaseId, taken.LeaseId);
        Assert.Empty(again);
        Assert.Equal(due.CorrelationId, Assert.Single(afterRecheck).RunId);
        // The sweeper's write bumps the version, so a saga write racing it retries instead of overwriting.
        Assert.Equal(3, (await fixture.Store.LoadAsync(due.CorrelationId, Ct))!.Version);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_waiting_dispatch_is_taken_with_what_decides_if_it_looks_lost_and_its_timer_is_moved_in_place(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        var waiting = StoreFixture.NewRun(Now);
        waiting.QueuedAt = Now.AddSeconds(-40);
        waiting.RedispatchAt = Now.AddSeconds(-10);
        waiting.ScheduleToStartTimeout = TimeSpan.FromSeconds(100);
        var otherAttempt = StoreFixture.NewRun(Now);
        otherAttempt.QueuedAt = Now.AddSeconds(-40);
        otherAttempt.RedispatchAt = Now.AddSeconds(-10);
        foreach (var run in new[] { waiting, otherAttempt })
            await fixture.Store.InsertAsync(run, Ct);

        var taken = await fixture.Store.TakeDueAsync(Now, Now.AddSeconds(30), 10, Ct);
        var row = Assert.Single(taken, r => r.RunId == waiting.CorrelationId);
        Assert.Equal(("process", 5, Now.AddSeconds(-40)), (row.Runtime, row.Priority, row.QueuedAt));
        await fixture.Store.PostponeRedispatchAsync([(waiting.CorrelationId, 1, Now.AddSeconds(80)), (otherAttempt.CorrelationId, 2, Now.AddSeconds(80))], Ct);

        // Another attempt than the one taken: left alone.
        var untouched = (await fixture.Store.LoadAsync(otherAttempt.CorrelationId, Ct))!;
        Assert.Equal(Now.AddSeconds(-10), untouched.RedispatchAt);
        Assert.Equal(2, untouched.Version);
        var moved = (await fixture.Store.LoadAsync(waiting.CorrelationId, Ct))!;
        Assert.Equal(Now.AddSeconds(80), moved.RedispatchAt);
        Assert.Equal(3, moved.Version);
        // due_at is the earliest timer: the schedule-to-start deadline (queued + 100 s), before the moved re-dispatch.
        Assert.DoesNotContain(await fixture.Store.TakeDueAsync(Now.AddSeconds(59), Now.AddSeconds(89), 10, Ct), r => r.RunId == waiting.CorrelationId);
        Assert.Contains(await fixture.Store.TakeDueAsync(Now.AddSeconds(60), Now.AddSeconds(90), 10, Ct), r => r.RunId == waiting.CorrelationId);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_lapse_heard_while_cut_off_is_put_off_until_it_can_be_judged_but_never_past_the_deadline(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        static RunState Lapsed()
        {
            var run = StoreFixture.NewRun(Now, RunStates.Running);
            run.LeaseId = Guid.NewGuid();
            run.LeaseExpiresAt = Now.AddSeconds(-1);
            return run;
        }
        var lapsed = Lapsed();
        var deadlineFirst = Lapsed();
        deadlineFirst.AttemptStartedAt = Now;
        deadlineFirst.StartToCloseTimeout = TimeSpan.FromSeconds(5);
        var leasedAgain = Lapsed();
        foreach (var run in new[] { lapsed, deadlineFirst, leasedAgain })
            await fixture.Store.InsertAsync(run, Ct);
        Assert.Equal(3, (await fixture.Store.TakeDueAsync(Now, Now.AddSeconds(30), 10, Ct)).Count);

        // The third row's lease changed since it was taken (another attempt, say): its timer is the saga's, left alone.
        await fixture.Store.PostponeLeaseLapsesAsync([(lapsed.CorrelationId, lapsed.LeaseId!.Value),
            (deadlineFirst.CorrelationId, deadlineFirst.LeaseId!.Value), (leasedAgain.CorrelationId, Guid.NewGuid())], Now.AddSeconds(16), Ct);

        Assert.Empty(await fixture.Store.TakeDueAsync(Now.AddSeconds(4), Now.AddSeconds(34), 10, Ct));
        Assert.Equal(deadlineFirst.CorrelationId, Assert.Single(await fixture.Store.TakeDueAsync(Now.AddSeconds(5), Now.AddSeconds(35), 10, Ct)).RunId);
        Assert.Equal(lapsed.CorrelationId, Assert.Single(await fixture.Store.TakeDueAsync(Now.AddSeconds(16), Now.AddSeconds(46), 10, Ct)).RunId);
        Assert.Equal(leasedAgain.CorrelationId, Assert.Single(await fixture.Store.TakeDueAsync(Now.AddSeconds(30), Now.AddSeconds(60), 10, Ct)).RunId);
        // The lease itself is unchanged: the saga judges it against the row when the timer fires.
        Assert.Equal(Now.AddSeconds(-1), (await fixture.Store.LoadAsync(lapsed.CorrelationId, Ct))!.LeaseExpiresAt);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_heartbeat_renews_current_leases_and_reports_the_others_lost_with_why(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        var held = StoreFixture.NewRun(Now, RunStates.Running);
        held.LeaseId = Guid.NewGuid();
        held.LeaseExpiresAt = Now.AddSeconds(5);
        var superseded = StoreFixture.NewRun(Now, RunStates.Running);
        superseded.LeaseId = Guid.NewGuid();
        superseded.WorkerId = "worker-b";
        var cancelling = StoreFixture.NewRun(Now, RunStates.Cancelling);
        cancelling.LeaseId = Guid.NewGuid();
        foreach (var run in new[] { held, superseded, cancelling })
            await fixture.Store.InsertAsync(run, Ct);
        var unknown = Guid.NewGuid();

        var heartbeat = new WorkerHeartbeat
        {
            WorkerId = "worker-a",
            HostName = "host",
            Runtimes = ["process"],
            Slots = 4,
            StartedAt = Now,
            MailboxDownSince = Now.AddSeconds(1),
            Leases =
            [
                new HeldLease { RunId = held.CorrelationId, Attempt = 1, LeaseId = held.LeaseId.Value, Usage = new RunUsage { Steps = 7 } },
                new HeldLease { RunId = superseded.CorrelationId, Attempt = 1, LeaseId = Guid.NewGuid() },
                new HeldLease { RunId = cancelling.CorrelationId, Attempt = 1, LeaseId = cancelling.LeaseId.Value },
                new HeldLease { RunId = unknown, Attempt = 1, LeaseId = Guid.NewGuid() },
            ],
        };
        var lost = (await fixture.Store.RenewLeasesAsync(heartbeat, Now.AddSeconds(2), Now.AddSeconds(12), Ct)).Lost;

        var renewed = (await fixture.Store.LoadAsync(held.CorrelationId, Ct))!;
        Assert.Equal(Now.AddSeconds(12), renewed.LeaseExpiresAt);
        Assert.Equal(7, renewed.Steps);
        Assert.Equal(3, lost.Count);
        Assert.Contains(lost, l => l.RunId == superseded.CorrelationId && l.Reason.Contains("superseded", StringComparison.Ordinal) && l.Reason.Contains("worker-b", StringComparison.Ordinal) && !l.Graceful);
        Assert.Contains(lost, l => l.RunId == cancelling.CorrelationId && l.Reason == LostLeaseReasons.CancelRequested && l.Graceful);
        Assert.Contains(lost, l => l.RunId == unknown && l.Reason == "no such run" && !l.Graceful);
        var worker = Assert.Single(await fixture.Store.ListWorkersAsync(Ct));
        Assert.Equal("worker-a", worker.WorkerId);
        Assert.Equal(4, worker.ActiveRuns);
        Assert.Equal(["process"], worker.Runtimes);
        Assert.Equal(Now.AddSeconds(1), worker.MailboxDownSince);
        // The next heartbeat says the mailbox is back.
        await fixture.Store.RenewLeasesAsync(heartbeat with { MailboxDownSince = null, Leases = [] }, Now.AddSeconds(4), Now.AddSeconds(14), Ct);
        Assert.Null(Assert.Single(await fixture.Store.ListWorkersAsync(Ct)).MailboxDownSince);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_heartbeat_listing_given_up_offers_hands_back_the_runs_leased_on_them_that_never_arrived(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        var givenUp = Guid.NewGuid();
        var stillOffered = Guid.NewGuid();
        static RunState Leased(string state, Guid offer, string worker = "worker-a")
        {
            var run = StoreFixture.NewRun(Now, state);
            run.LeaseId = Guid.NewGuid();
            run.ClaimId = offer;
            run.WorkerId = worker;
            run.LeaseExpiresAt = state == RunStates.Running ? Now.AddSeconds(8) : null;
            return run;
        }
        var neverArrived = Leased(RunStates.Running, givenUp);
        var arrived = Leased(RunStates.Running, givenUp);
        var onALiveOffer = Leased(RunStates.Running, stillOffered);
        var anotherWorkers = Leased(RunStates.Running, givenUp, "worker-b");
        var listed = Leased(RunStates.Running, givenUp);
        // Lapsed before the heartbeat came: the next attempt is queued, and the one that never arrived should not count.
        var lapsed = Leased(RunStates.Queued, givenUp);
        lapsed.Attempt = 2;
        lapsed.ErrorKind = FailureKinds.LeaseExpired;
        var handedBack = Leased(RunStates.Queued, givenUp);
        handedBack.Attempt = 2;
        handedBack.ErrorKind = RunLifecycle.ReleasedKind;
        foreach (var run in new[] { neverArrived, arrived, onALiveOffer, anotherWorkers, listed, lapsed, handedBack })
            await fixture.Store.InsertAsync(run, Ct);

        var heartbeat = new WorkerHeartbeat
        {
            WorkerId = "worker-a",
            HostName = "host",
            StartedAt = Now,
            Leases = [new HeldLease { RunId = listed.CorrelationId, Attempt = 1, LeaseId = listed.LeaseId!.Value }],
            ForgottenOffers = [new ForgottenOffer { OfferId = givenUp, ReceivedLeases = [arrived.LeaseId!.Value] }],
        };
        var renewal = await fixture.Store.RenewLeasesAsync(heartbeat, Now.AddSeconds(9), Now.AddSeconds(17), Ct);

        Assert.Empty(renewal.Lost);
        Assert.Equal(
            [(neverArrived.CorrelationId, 1, neverArrived.LeaseId!.Value), (lapsed.CorrelationId, 1, lapsed.LeaseId!.Value)],
            renewal.NeverDelivered.Select(r => (r.RunId, r.Attempt, r.LeaseId)).OrderBy(r => r.RunId == lapsed.CorrelationId));
        Assert.All(renewal.NeverDelivered, r => Assert.Equal(("worker-a", RunStore.NeverDeliveredReason), (r.WorkerId, r.Reason)));
        // Held on until its hand-back is judged, so a lapse already on its way cannot count the attempt first.
        Assert.Equal(Now.AddSeconds(17), (await fixture.Store.LoadAsync(neverArrived.CorrelationId, Ct))!.LeaseExpiresAt);
        Assert.Equal(Now.AddSeconds(8), (await fixture.Store.LoadAsync(arrived.CorrelationId, Ct))!.LeaseExpiresAt);
        Assert.Null((await fixture.Store.LoadAsync(lapsed.CorrelationId, Ct))!.LeaseExpiresAt);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Renewals_push_the_stall_deadline_only_when_progress_grows_and_keep_due_at_on_the_earliest_timer(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        var run = StoreFixture.NewRun(Now, RunStates.Running);
        run.LeaseId = Guid.NewGuid();
        run.LeaseExpiresAt = Now.AddSeconds(10);
        run.AttemptStartedAt = Now;
        run.StartToCloseTimeout = TimeSpan.FromMinutes(10);
        run.StallTimeout = TimeSpan.FromSeconds(30);
        run.StallDeadlineAt = Now.AddSeconds(30);
        await fixture.Store.InsertAsync(run, Ct);

        async Task<RunState> Beat(long progress, DateTimeOffset at)
        {
            var heartbeat = new WorkerHeartbeat
            {
                WorkerId = "worker-a",
                HostName = "host",
                StartedAt = Now,
                Leases = [new HeldLease { RunId = run.CorrelationId, Attempt = 1, LeaseId = run.LeaseId.Value, Progress = progress }],
            };
            Assert.Empty((await fixture.Store.RenewLeasesAsync(heartbeat, at, at.AddSeconds(10), Ct)).Lost);
            return (await fixture.Store.LoadAsync(run.CorrelationId, Ct))!;
        }

        var moved = await Beat(progress: 3, Now.AddSeconds(5));
        Assert.Equal(3, moved.Progress);
        Assert.Equal(Now.AddSeconds(35), moved.StallDeadlineAt);

        // No new events: the stall clock keeps running while the lease is renewed, and the sweeper will find it first.
        var stuck = await Beat(progress: 3, Now.AddSeconds(28));
        Assert.Equal(Now.AddSeconds(35), stuck.StallDeadlineAt);
        Assert.Equal(Now.AddSeconds(38), stuck.LeaseExpiresAt);
        Assert.Empty(await fixture.Store.TakeDueAsync(Now.AddSeconds(34), Now.AddSeconds(64), 10, Ct));
        var due = Assert.Single(await fixture.Store.TakeDueAsync(Now.AddSeconds(35), Now.AddSeconds(65), 10, Ct));
        Assert.True(due.DeadlinePassed);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_renewal_keeps_due_at_at_the_attempt_deadline_when_that_comes_before_the_lease(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        var run = StoreFixture.NewRun(Now, RunStates.Running);
        run.LeaseId = Guid.NewGuid();
        run.LeaseExpiresAt = Now.AddSeconds(10);
        run.AttemptStartedAt = Now;
        run.StartToCloseTimeout = TimeSpan.FromSeconds(12);
        await fixture.Store.InsertAsync(run, Ct);
        var heartbeat = new WorkerHeartbeat
        {
            WorkerId = "worker-a",
            HostName = "host",
            StartedAt = Now,
            Leases = [new HeldLease { RunId = run.CorrelationId, Attempt = 1, LeaseId = run.LeaseId.Value, Progress = 1 }],
        };

        await fixture.Store.RenewLeasesAsync(heartbeat, Now.AddSeconds(8), Now.AddSeconds(18), Ct);

        Assert.Empty(await fixture.Store.TakeDueAsync(Now.AddSeconds(11), Now.AddSeconds(41), 10, Ct));
        var due = Assert.Single(await fixture.Store.TakeDueAsync(Now.AddSeconds(12), Now.AddSeconds(42), 10, Ct));
        Assert.True(due.DeadlinePassed);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task One_heartbeat_renews_hundreds_of_leases_at_once(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        var runs = Enumerable.Range(0, 400).Select(_ =>
        {
            var run = StoreFixture.NewRun(Now, RunStates.Running);
            run.LeaseId = Guid.NewGuid();
            run.LeaseExpiresAt = Now.AddSeconds(10);
            return run;
        }).ToList();
        foreach (var run in runs)
            await fixture.Store.InsertAsync(run, Ct);
        var heartbeat = new WorkerHeartbeat
        {
            WorkerId = "worker-a",
            HostName = "host",
            StartedAt = Now,
            Leases = [.. runs.Select(r => new HeldLease { RunId = r.CorrelationId, Attempt = 1, LeaseId = r.LeaseId!.Value, Usage = new RunUsage { Steps = 2 } })],
        };

        var lost = (await fixture.Store.RenewLeasesAsync(heartbeat, Now.AddSeconds(2), Now.AddSeconds(12), Ct)).Lost;

        Assert.Empty(lost);
        foreach (var run in runs.Take(20))
        {
            var renewed = (await fixture.Store.LoadAsync(run.CorrelationId, Ct))!;
            Assert.Equal((Now.AddSeconds(12), 2, 2), (renewed.LeaseExpiresAt!.Value, renewed.Steps, renewed.Version));
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Listing_pages_newest_first_with_filters_and_a_cursor(string provider)
    {
        await using var fixture = await StoreFixture.CreateAsync(provider);
        for (var i = 0; i < 7; i++)
        {
            var run = StoreFixture.NewRun(Now.AddSeconds(i), i % 2 == 0 ? RunStates.Succeeded : RunStates.Failed);
            run.Agent = i < 5 ? "echo" : "other";
            await fixture.Store.InsertAsync(run, Ct);
        }

        var (page1, cursor1) = await fixture.Store.QueryAsync(new RunQuery(Agent: "echo", Limit: 2), Ct);
        RunCursor.TryDecode(cursor1, out var position);
        var (page2, _) = await fixture.Store.QueryAsync(new RunQuery(Agent: "echo", Limit: 2, Cursor: position), Ct);
        var (succeeded, none) = await fixture.Store.QueryAsync(new RunQuery(State: RunStates.Succeeded, Limit: 10), Ct);

        Assert.Equal([Now.AddSeconds(4), Now.AddSeconds(3)], page1.Select(r => r.SubmittedAt));
        Assert.Equal([Now.AddSeconds(2), Now.AddSeconds(1)], page2.Select(r => r.SubmittedAt));
        Assert.Equal(4, succeeded.Count);
        Assert.Null(none);
    }
}
