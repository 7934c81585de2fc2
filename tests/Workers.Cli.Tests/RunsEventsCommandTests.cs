using System.Text.Json;

using Workers.Cli.Tests.Support;
using Workers.Orchestrator.Api;
using Workers.Runs.StateMachine;

namespace Workers.Cli.Tests;

public sealed class RunsEventsCommandTests : IAsyncLifetime
{
    static readonly Guid Id = Guid.Parse("00000000-0000-0000-0000-0000000000e1");

    FakeOrchestrator fake = null!;

    public async ValueTask InitializeAsync() => fake = await FakeOrchestrator.StartAsync(TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync() => await fake.DisposeAsync();

    static RunEventView Event(long sequence, string type, string? text = null, string? tool = null) =>
        new() { Attempt = 1, Sequence = sequence, At = FixedNow.Default.AddSeconds(sequence), Type = type, Text = text, Tool = tool };

    static readonly RunEventView[] Log =
    [
        Event(1, "message", "reading the repo"),
        Event(2, "tool-started", "ls -la", "Bash"),
        Event(3, "tool-completed", "a\nb", "Bash"),
        Event(4, "usage", "steps +1"),
        Event(5, "message", "done"),
    ];

    [Fact]
    public async Task Events_prints_every_event_in_order_one_line_each_following_the_pages()
    {
        fake.Script(Id, FakeOrchestrator.Run(Id, RunStates.Succeeded));
        fake.Events[Id] = Log;

        var result = await Shell.RunAsync(fake.Url, "runs", "events", Id.ToString());

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        var lines = result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5, lines.Length);
        Assert.Contains("#1.1", lines[0], StringComparison.Ordinal);
        Assert.Contains("reading the repo", lines[0], StringComparison.Ordinal);
        Assert.Contains("tool-started", lines[1], StringComparison.Ordinal);
        Assert.Contains("Bash ls -la", lines[1], StringComparison.Ordinal);
        // A multi-line text stays on one line.
        Assert.Contains("Bash: a ⏎ b", lines[2], StringComparison.Ordinal);
        Assert.Contains("done", lines[4], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Follow_keeps_polling_as_the_log_grows_and_stops_once_the_run_has_ended_with_nothing_missed_or_repeated()
    {
        fake.Script(Id, FakeOrchestrator.Run(Id, RunStates.Running), FakeOrchestrator.Run(Id, RunStates.Running), FakeOrchestrator.Run(Id, RunStates.Succeeded));
        fake.Events[Id] = Log;

        var result = await Shell.RunAsync(fake.Url, "runs", "events", Id.ToString(), "--follow", "--json");

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        var sequences = result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonSerializer.Deserialize<RunEventView>(l, JsonSerializerOptions.Web)!.Sequence);
        Assert.Equal([1L, 2, 3, 4, 5], sequences);
        Assert.Equal(3, fake.Reads(Id));
    }

    [Fact]
    public async Task Events_of_an_unknown_run_is_an_api_error()
    {
        var result = await Shell.RunAsync(fake.Url, "runs", "events", Guid.NewGuid().ToString());

        Assert.Equal(ExitCodes.ApiError, result.ExitCode);
        Assert.Contains("no run with id", result.Error, StringComparison.Ordinal);
    }
}
