using System.Text.Json;

using Workers.Cli.Tests.Support;
using Workers.Orchestrator.Api;
using Workers.Runs.StateMachine;

namespace Workers.Cli.Tests;

public sealed class RunsCommandTests : IAsyncLifetime
{
    static readonly Guid[] Ids = [.. Enumerable.Range(1, 5).Select(i => Guid.Parse($"00000000-0000-0000-0000-00000000000{i}"))];

    FakeOrchestrator fake = null!;

    public async ValueTask InitializeAsync()
    {
        fake = await FakeOrchestrator.StartAsync(TestContext.Current.CancellationToken);
        fake.Listed = [.. Ids.Select(id => FakeOrchestrator.Run(id, RunStates.Running))];
    }

    public async ValueTask DisposeAsync() => await fake.DisposeAsync();

    [Fact]
    public async Task List_prints_one_page_as_a_table_and_the_next_cursor_on_stderr()
    {
        var result = await Shell.RunAsync(fake.Url, "runs", "list");

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        var lines = Lines(result.Out);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("ID ", lines[0], StringComparison.Ordinal);
        Assert.StartsWith(Ids[0].ToString(), lines[1], StringComparison.Ordinal);
        Assert.StartsWith(Ids[1].ToString(), lines[2], StringComparison.Ordinal);
        Assert.Contains("more runs: add --cursor c2 (or --all)", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_passes_filters_paging_and_cursor_to_the_api()
    {
        await Shell.RunAsync(fake.Url, "runs", "list", "--state", "Running", "--runtime", "native", "--agent", "echo", "--tenant", "a b", "--limit", "3", "--cursor", "c1");

        Assert.Equal("?state=Running&runtime=native&agent=echo&tenant=a%20b&limit=3&cursor=c1", Assert.Single(fake.ListQueries));
    }

    [Fact]
    public async Task List_all_follows_the_cursors_to_the_last_page()
    {
        var result = await Shell.RunAsync(fake.Url, "runs", "list", "--all");

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        Assert.Equal(["", "?cursor=c2", "?cursor=c4"], fake.ListQueries.ToArray());
        Assert.Equal(1 + Ids.Length, Lines(result.Out).Length);
        Assert.Equal("", result.Error);
    }

    [Fact]
    public async Task List_all_json_is_one_page_holding_every_run()
    {
        var result = await Shell.RunAsync(fake.Url, "runs", "list", "--all", "--json");

        var page = JsonSerializer.Deserialize<RunPage>(result.Out, JsonSerializerOptions.Web)!;
        Assert.Equal(Ids, page.Items.Select(r => r.RunId));
        Assert.Null(page.NextCursor);
    }

    [Fact]
    public async Task List_says_so_when_no_run_matches()
    {
        fake.Listed = [];

        var result = await Shell.RunAsync(fake.Url, "runs", "list");

        Assert.Equal("no runs match\n", result.Out.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Show_prints_the_run_readably()
    {
        fake.Script(Ids[0], FakeOrchestrator.Run(Ids[0], RunStates.Succeeded, output: "all done"));

        var result = await Shell.RunAsync(fake.Url, "runs", "show", Ids[0].ToString());

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        Assert.Contains($"Run:          {Ids[0]}", result.Out, StringComparison.Ordinal);
        Assert.Contains("State:        Succeeded", result.Out, StringComparison.Ordinal);
        Assert.Contains("Output:\n  all done", result.Out.ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Show_json_prints_the_api_document()
    {
        fake.Script(Ids[0], FakeOrchestrator.Run(Ids[0], RunStates.Running));

        var result = await Shell.RunAsync(fake.Url, "runs", "show", Ids[0].ToString(), "--json");

        using var document = JsonDocument.Parse(result.Out);
        Assert.Equal(Ids[0], document.RootElement.GetProperty("runId").GetGuid());
        Assert.Equal("worker-a", document.RootElement.GetProperty("workerId").GetString());
    }

    [Fact]
    public async Task Show_of_an_unknown_run_prints_the_problem_detail_and_exits_4()
    {
        var result = await Shell.RunAsync(fake.Url, "runs", "show", Ids[4].ToString());

        Assert.Equal(ExitCodes.ApiError, result.ExitCode);
        Assert.Equal($"error: no run with id {Ids[4]}.\n", result.Error.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Cancel_of_a_live_run_reports_the_request_and_sends_the_reason()
    {
        fake.Script(Ids[0], FakeOrchestrator.Run(Ids[0], RunStates.Running));

        var result = await Shell.RunAsync(fake.Url, "runs", "cancel", Ids[0].ToString(), "--reason", "wrong input & all");

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        Assert.Equal($"run {Ids[0]}: cancel requested (was Running)\n", result.Out.ReplaceLineEndings("\n"));
        Assert.Equal((Ids[0], "wrong input & all"), Assert.Single(fake.Cancels));
    }

    [Fact]
    public async Task Cancel_of_a_finished_run_says_nothing_changed_and_still_exits_0()
    {
        fake.Script(Ids[0], FakeOrchestrator.Run(Ids[0], RunStates.Succeeded));

        var result = await Shell.RunAsync(fake.Url, "runs", "cancel", Ids[0].ToString());

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        Assert.Equal($"run {Ids[0]}: the run already finished as Succeeded; nothing changed\n", result.Out.ReplaceLineEndings("\n"));
        Assert.Null(Assert.Single(fake.Cancels).Reason);
    }

    [Fact]
    public async Task Cancel_json_prints_the_acceptance_document()
    {
        fake.Script(Ids[0], FakeOrchestrator.Run(Ids[0], RunStates.Queued));

        var result = await Shell.RunAsync(fake.Url, "runs", "cancel", Ids[0].ToString(), "--json");

        using var document = JsonDocument.Parse(result.Out);
        Assert.Equal("cancel requested.", document.RootElement.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Cancel_of_an_unknown_run_prints_the_problem_detail_and_exits_4()
    {
        var result = await Shell.RunAsync(fake.Url, "runs", "cancel", Ids[3].ToString());

        Assert.Equal(ExitCodes.ApiError, result.ExitCode);
        Assert.Equal($"error: no run with id {Ids[3]}.\n", result.Error.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Runs_commands_exit_3_when_the_api_is_unreachable()
    {
        var api = ApiClientTests.ClosedPort();

        Assert.Equal(ExitCodes.Unreachable, (await Shell.RunAsync(api, "runs", "list")).ExitCode);
        Assert.Equal(ExitCodes.Unreachable, (await Shell.RunAsync(api, "runs", "show", Ids[0].ToString())).ExitCode);
        Assert.Equal(ExitCodes.Unreachable, (await Shell.RunAsync(api, "runs", "cancel", Ids[0].ToString())).ExitCode);
        Assert.Equal(ExitCodes.Unreachable, (await Shell.RunAsync(api, "workers")).ExitCode);
    }

    static string[] Lines(string text) => text.ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
}
