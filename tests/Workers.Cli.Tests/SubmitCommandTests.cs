using System.Text.Json;

using Workers.Cli.Tests.Support;
using Workers.Runs.StateMachine;

namespace Workers.Cli.Tests;

public sealed class SubmitCommandTests : IAsyncLifetime
{
    FakeOrchestrator fake = null!;

    public async ValueTask InitializeAsync() => fake = await FakeOrchestrator.StartAsync(TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync() => await fake.DisposeAsync();

    [Fact]
    public async Task Submit_prints_the_new_run_id_and_nothing_else()
    {
        var result = await Shell.RunAsync(fake.Url, "submit", "--agent", "echo", "--input", "hello");

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        var sent = Assert.Single(fake.Submissions);
        Assert.True(Guid.TryParse(result.Out.Trim(), out var runId), result.ToString());
        Assert.Equal(("echo", "hello"), (sent.Agent, sent.Input));
        Assert.NotEqual(Guid.Empty, runId);
    }

    [Fact]
    public async Task Submit_sends_every_option_the_user_gave()
    {
        var runId = Guid.NewGuid();

        var result = await Shell.RunAsync(fake.Url, "submit", "-a", "echo", "-i", "hi", "-p", "9", "--runtime", "native", "--tenant", "acme",
            "--label", "team=search", "-l", "query=a=b", "--max-attempts", "2", "--run-id", runId.ToString());

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        var sent = Assert.Single(fake.Submissions);
        Assert.Equal(runId, sent.RunId);
        Assert.Equal((9, "native", "acme", 2), (sent.Priority, sent.Runtime, sent.Tenant, sent.MaxAttempts));
        Assert.Equal(new Dictionary<string, string> { ["team"] = "search", ["query"] = "a=b" }, sent.Labels);
    }

    [Fact]
    public async Task Submit_leaves_unset_options_to_the_fleet()
    {
        await Shell.RunAsync(fake.Url, "submit", "--agent", "echo", "--input", "hi");

        var sent = Assert.Single(fake.Submissions);
        Assert.Null(sent.Priority);
        Assert.Null(sent.RunId);
        Assert.Null(sent.Labels);
        Assert.Null(sent.MaxAttempts);
    }

    [Fact]
    public async Task Input_dash_reads_standard_input()
    {
        await Shell.RunAsync(["submit", "--agent", "echo", "--input", "-", "--api", fake.Url.AbsoluteUri], stdin: "from a pipe\n",
            cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("from a pipe\n", Assert.Single(fake.Submissions).Input);
    }

    [Fact]
    public async Task Input_file_is_read_relative_to_the_current_directory()
    {
        var directory = Directory.CreateTempSubdirectory("workers-cli-").FullName;
        await File.WriteAllTextAsync(Path.Combine(directory, "task.md"), "# the task", TestContext.Current.CancellationToken);

        var result = await Shell.RunAsync(["submit", "--agent", "echo", "--input-file", "task.md", "--api", fake.Url.AbsoluteUri],
            currentDirectory: directory, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        Assert.Equal("# the task", Assert.Single(fake.Submissions).Input);
    }

    [Fact]
    public async Task A_missing_input_file_is_a_usage_error_and_nothing_is_sent()
    {
        var result = await Shell.RunAsync(fake.Url, "submit", "--agent", "echo", "--input-file", "/no/such/file.txt");

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("cannot read --input-file '/no/such/file.txt'", result.Error, StringComparison.Ordinal);
        Assert.Empty(fake.Submissions);
    }

    [Fact]
    public async Task Submit_json_prints_the_acceptance_document()
    {
        var runId = Guid.NewGuid();

        var result = await Shell.RunAsync(fake.Url, "submit", "--agent", "echo", "--input", "hi", "--run-id", runId.ToString(), "--json");

        using var document = JsonDocument.Parse(result.Out);
        Assert.Equal(runId, document.RootElement.GetProperty("runId").GetGuid());
        Assert.Equal("Submitted", document.RootElement.GetProperty("state").GetString());
    }

    [Fact]
    public async Task Submit_wait_prints_the_output_and_exits_0_when_the_run_succeeds()
    {
        var runId = Guid.NewGuid();
        fake.Script(runId,
            FakeOrchestrator.Run(runId, RunStates.Queued),
            FakeOrchestrator.Run(runId, RunStates.Running),
            FakeOrchestrator.Run(runId, RunStates.Succeeded, output: "hello back"));

        var result = await Shell.RunAsync(fake.Url, "submit", "--agent", "echo", "--input", "hello", "--run-id", runId.ToString(), "--wait");

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        Assert.Equal("hello back\n", result.Out.ReplaceLineEndings("\n"));
        Assert.Contains($"run {runId}: Running (attempt 1 of 3, worker worker-a)", result.Error, StringComparison.Ordinal);
        Assert.Contains($"run {runId}: Succeeded", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_wait_exits_nonzero_when_the_run_fails()
    {
        var runId = Guid.NewGuid();
        fake.Script(runId,
            FakeOrchestrator.Run(runId, RunStates.Running),
            FakeOrchestrator.Run(runId, RunStates.Failed, error: "the agent exited with code 3"));

        var result = await Shell.RunAsync(fake.Url, "submit", "--agent", "fail", "--input", "x", "--run-id", runId.ToString(), "--wait");

        Assert.Equal(ExitCodes.RunDidNotSucceed, result.ExitCode);
        Assert.Equal("", result.Out);
        Assert.Contains($"run {runId} Failed: the agent exited with code 3", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(RunStates.Cancelled)]
    [InlineData(RunStates.Rejected)]
    public async Task Submit_wait_exits_1_for_every_terminal_state_but_succeeded(string state)
    {
        var runId = Guid.NewGuid();
        fake.Script(runId, FakeOrchestrator.Run(runId, state, error: "because"));

        var result = await Shell.RunAsync(fake.Url, "submit", "--agent", "echo", "--input", "x", "--run-id", runId.ToString(), "--wait");

        Assert.Equal(ExitCodes.RunDidNotSucceed, result.ExitCode);
        Assert.Contains($"run {runId} {state}: because", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_wait_keeps_polling_while_the_new_run_is_not_visible_yet()
    {
        // The API accepts before the saga stores the run, so the first reads can answer 404.
        var runId = Guid.NewGuid();
        fake.Script(runId, null, null, FakeOrchestrator.Run(runId, RunStates.Succeeded, output: "done"));

        var result = await Shell.RunAsync(fake.Url, "submit", "--agent", "echo", "--input", "x", "--run-id", runId.ToString(), "--wait");

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        Assert.Equal("done", result.Out.Trim());
        Assert.Equal(3, fake.Reads(runId));
    }

    [Fact]
    public async Task Submit_wait_gives_up_after_the_timeout_with_exit_2_and_leaves_the_run_alone()
    {
        var runId = Guid.NewGuid();
        fake.Script(runId, FakeOrchestrator.Run(runId, RunStates.Running));

        var result = await Shell.RunAsync(fake.Url, "submit", "--agent", "sleep", "--input", "60", "--run-id", runId.ToString(), "--wait", "--timeout", "0.3");

        Assert.Equal(ExitCodes.Timeout, result.ExitCode);
        Assert.Contains($"gave up waiting after 0.3s: run {runId} is still Running", result.Error, StringComparison.Ordinal);
        Assert.Empty(fake.Cancels);
    }

    [Fact]
    public async Task Submit_wait_json_prints_the_final_run_as_one_document()
    {
        var runId = Guid.NewGuid();
        fake.Script(runId, FakeOrchestrator.Run(runId, RunStates.Running), FakeOrchestrator.Run(runId, RunStates.Succeeded, output: "ok"));

        var result = await Shell.RunAsync(fake.Url, "submit", "--agent", "echo", "--input", "x", "--run-id", runId.ToString(), "--wait", "--json");

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        using var document = JsonDocument.Parse(result.Out);
        Assert.Equal("Succeeded", document.RootElement.GetProperty("state").GetString());
        Assert.Equal("ok", document.RootElement.GetProperty("output").GetString());
        Assert.Equal("", result.Error);
    }

    [Fact]
    public async Task A_refused_submission_prints_the_problem_detail_and_exits_4()
    {
        var result = await Shell.RunAsync(fake.Url, "submit", "--agent", FakeOrchestrator.UnknownAgent, "--input", "x", "--wait");

        Assert.Equal(ExitCodes.ApiError, result.ExitCode);
        Assert.Equal($"error: {FakeOrchestrator.UnknownAgentDetail}\n", result.Error.ReplaceLineEndings("\n"));
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task An_unreachable_api_exits_3_with_one_line_of_advice()
    {
        var api = ApiClientTests.ClosedPort();

        var result = await Shell.RunAsync(api, "submit", "--agent", "echo", "--input", "x");

        Assert.Equal(ExitCodes.Unreachable, result.ExitCode);
        var line = Assert.Single(result.Error.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n'));
        Assert.StartsWith($"cannot reach the orchestrator at {api.AbsoluteUri.TrimEnd('/')}", line, StringComparison.Ordinal);
        Assert.EndsWith("start it with `workers dev` or pass --api", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_api_url_comes_from_WORKERS_API_when_no_flag_is_given()
    {
        var result = await Shell.RunAsync(["submit", "--agent", "echo", "--input", "x"],
            environment: new Dictionary<string, string> { ["WORKERS_API"] = fake.Url.AbsoluteUri },
            cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        Assert.Single(fake.Submissions);
    }

    [Fact]
    public async Task Ctrl_c_while_waiting_stops_waiting_with_exit_130()
    {
        var runId = Guid.NewGuid();
        fake.Script(runId, FakeOrchestrator.Run(runId, RunStates.Running));
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);

        // Ctrl+C once the command is waiting (it has read the run at least once), not after a fixed time: on a busy
        // machine the submission itself may take longer than any fixed delay.
        var submit = Shell.RunAsync(["submit", "--agent", "echo", "--input", "x", "--run-id", runId.ToString(), "--wait", "--api", fake.Url.AbsoluteUri],
            cancellationToken: interrupt.Token);
        while (fake.Reads(runId) == 0 && !submit.IsCompleted)
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        await interrupt.CancelAsync();
        var result = await submit;

        Assert.Equal(ExitCodes.Interrupted, result.ExitCode);
        Assert.Contains($"stopped waiting; run {runId} goes on", result.Error, StringComparison.Ordinal);
    }
}
