using Workers.Cli.Output;
using Workers.Cli.Tests.Support;
using Workers.Orchestrator.Api;

namespace Workers.Cli.Tests;

public sealed class RunTextTests
{
    static readonly DateTimeOffset Now = FixedNow.Default;
    static readonly Guid RunId = Guid.Parse("3f2a1c9e-5b7d-4e0f-9a61-0c2b8d4e7f10");

    static RunView Finished() => FakeOrchestrator.Run(RunId, "Failed", error: "tool crashed\nexit code 3") with
    {
        Tenant = "acme",
        Labels = new Dictionary<string, string> { ["team"] = "search", ["env"] = "dev" },
        Usage = new RunUsageView { Steps = 3, ToolCalls = 1, InputTokens = 1200, OutputTokens = 300, CostUsd = 0.0123m },
    };

    [Fact]
    public void Details_show_every_present_field_with_relative_times()
    {
        var text = Details(Finished());

        Assert.Contains($"Run:          {RunId}", text, StringComparison.Ordinal);
        Assert.Contains("State:        Failed", text, StringComparison.Ordinal);
        Assert.Contains("Attempt:      1 of 3", text, StringComparison.Ordinal);
        Assert.Contains("Labels:       env=dev, team=search", text, StringComparison.Ordinal);
        Assert.Contains("Submitted:    2026-03-14 11:55:00Z (5m ago)", text, StringComparison.Ordinal);
        Assert.Contains("Took:         3m00s", text, StringComparison.Ordinal);
        Assert.Contains("Usage:        3 steps, 1 tool call, 1,200 in / 300 out tokens, $0.0123", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Details_leave_out_fields_the_run_does_not_have()
    {
        var text = Details(FakeOrchestrator.Run(RunId, "Queued"));

        Assert.DoesNotContain("Worker:", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Started:", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Lease until:", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Error:", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Multi_line_input_output_and_error_are_indented_blocks_at_the_end()
    {
        var text = Details(Finished());

        Assert.EndsWith(
            """
            Input:
              hello
            Error:
              tool crashed
              exit code 3

            """.ReplaceLineEndings(), text);
    }

    [Fact]
    public void The_runs_table_shows_one_aligned_row_per_run()
    {
        var table = RunText.RunsTable([FakeOrchestrator.Run(RunId, "Running")], Now).ToString();
        var lines = table.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');

        Assert.Equal(2, lines.Length);
        Assert.Matches(@"^ID\s+STATE\s+AGENT\s+RUNTIME\s+PRIO\s+ATTEMPT\s+WORKER\s+AGE\s+UPDATED$", lines[0]);
        Assert.Matches($@"^{RunId}\s+Running\s+echo\s+process\s+5\s+1/3\s+worker-a\s+5m\s+1m$", lines[1]);
    }

    [Fact]
    public void The_workers_table_shows_busy_slots_and_draining()
    {
        var worker = new WorkerView
        {
            WorkerId = "worker-a",
            HostName = "box-1",
            Runtimes = ["native", "process"],
            Slots = 4,
            ActiveRuns = 3,
            Draining = true,
            Status = "alive",
            StartedAt = Now.AddHours(-2),
            LastSeenAt = Now.AddSeconds(-3),
        };

        var table = RunText.WorkersTable([worker], Now).ToString();

        Assert.Matches(@"worker-a\s+box-1\s+alive, draining\s+native,process\s+3/4\s+2h\s+3s", table);
    }

    [Fact]
    public void The_workers_table_shows_since_when_a_workers_mailbox_has_been_down()
    {
        var worker = new WorkerView
        {
            WorkerId = "worker-a",
            HostName = "box-1",
            Runtimes = ["process"],
            Slots = 4,
            MailboxDownSince = Now.AddMinutes(-3),
            Status = "alive",
            StartedAt = Now.AddHours(-2),
            LastSeenAt = Now.AddSeconds(-1),
        };

        var table = RunText.WorkersTable([worker], Now).ToString();

        Assert.Matches(@"worker-a\s+box-1\s+alive, mailbox down 3m\s+process\s+0/4", table);
    }

    [Fact]
    public void Details_of_a_timed_out_run_show_its_error_kind_and_timeouts()
    {
        var run = FakeOrchestrator.Run(RunId, "TimedOut", error: "attempt 2 ran longer than its start-to-close timeout (00:00:30)") with
        {
            ErrorKind = "start-to-close-timeout",
            Limits = new Workers.Contracts.RunLimits { StartToCloseTimeout = TimeSpan.FromSeconds(30), StallTimeout = TimeSpan.FromMinutes(5) },
        };

        var text = Details(run);

        Assert.Contains("Error kind:", text, StringComparison.Ordinal);
        Assert.Matches(@"Error kind:\s+start-to-close-timeout", text);
        Assert.Matches(@"Timeouts:\s+start-to-close 00:00:30, stall 00:05:00", text);
        Assert.Contains("start-to-close timeout (00:00:30)", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_state_line_names_the_attempt_and_the_worker()
    {
        Assert.Equal("Running (attempt 1 of 3, worker worker-a)", RunText.StateLine(FakeOrchestrator.Run(RunId, "Running")));
    }

    [Fact]
    public void Clipped_text_is_one_line_and_ends_with_an_ellipsis_when_cut()
    {
        Assert.Equal("one two", RunText.Clip("one\ntwo", 20));
        Assert.Equal("abcdefg...", RunText.Clip(new string('a', 1) + "bcdefghijkl", 10));
    }

    static string Details(RunView run)
    {
        using var writer = new StringWriter();
        RunText.WriteDetails(writer, run, Now);
        return writer.ToString();
    }
}
