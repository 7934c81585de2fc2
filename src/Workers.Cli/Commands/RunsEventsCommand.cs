using System.CommandLine;
using System.Globalization;

using Workers.Cli.Output;
using Workers.Orchestrator.Api;
using Workers.Runs.StateMachine;

namespace Workers.Cli.Commands;

/// <summary><c>workers runs events ID [--follow]</c>: what the agent did, in order; with --follow, until the run ends.</summary>
internal sealed class RunsEventsCommand : Command
{
    static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    readonly CliContext context;
    readonly CommonOptions common;

    readonly Argument<Guid> id = new("ID") { Description = "The run id", CustomParser = Parsers.RunId };
    readonly Option<bool> follow = new("--follow", "-f") { Description = "Keep printing new events until the run reaches a final state" };

    public RunsEventsCommand(CliContext context, CommonOptions common)
        : base("events", "Show a run's event log: messages, tool calls, usage, checkpoints, resumes")
    {
        this.context = context;
        this.common = common;
        Arguments.Add(id);
        Options.Add(follow);
        this.SetHandledAction(context, RunAsync);
    }

    async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        using var api = common.CreateClient(result);
        var runId = result.GetValue(id);
        var json = result.GetValue(common.Json);
        string? after = null;
        while (true)
        {
            // Read the state before the page: events recorded before the run ended are then on this page or the next.
            var finished = result.GetValue(follow) && RunStates.IsTerminal((await api.GetRunAsync(runId, cancellationToken).ConfigureAwait(false)).State);
            RunEventPage page;
            do
            {
                page = await api.GetEventsAsync(runId, after, cancellationToken).ConfigureAwait(false);
                foreach (var e in page.Items)
                {
                    if (json)
                        JsonOutput.WriteLine(context.Out, e);
                    else
                        context.Out.WriteLine(Line(e));
                }
                after = page.Next;
            }
            while (page.Items.Count > 0);

            if (!result.GetValue(follow) || finished)
                return ExitCodes.Success;
            await Task.Delay(PollInterval, context.Time, cancellationToken).ConfigureAwait(false);
        }
    }

    static string Line(RunEventView e)
    {
        var what = e.Type switch
        {
            "tool-started" => $"{e.Tool} {e.Text}",
            "tool-completed" => $"{e.Tool}{(e.IsError ? " (error)" : "")}: {e.Text}",
            _ => e.Text,
        };
        var text = (what ?? "").ReplaceLineEndings(" ⏎ ");
        return string.Create(CultureInfo.InvariantCulture, $"{e.At:HH:mm:ss.fff}  #{e.Attempt}.{e.Sequence,-4} {e.Type,-14} {text}");
    }
}
