using System.CommandLine;

using Workers.Cli.Api;
using Workers.Cli.Output;
using Workers.Orchestrator.Api;
using Workers.Runs.StateMachine;

namespace Workers.Cli.Commands;

/// <summary><c>workers runs list</c>: a page of runs (or, with <c>--all</c>, every page) as a table.</summary>
internal sealed class RunsListCommand : Command
{
    readonly CliContext context;
    readonly CommonOptions common;

    readonly Option<string?> state = new("--state", "-s") { Description = "Only runs in this state", HelpName = "STATE" };
    readonly Option<string?> runtime = new("--runtime") { Description = "Only runs on this runtime", HelpName = "R" };
    readonly Option<string?> agent = new("--agent", "-a") { Description = "Only runs of this agent", HelpName = "A" };
    readonly Option<string?> tenant = new("--tenant") { Description = "Only runs of this tenant", HelpName = "T" };
    readonly Option<int?> limit = new Option<int?>("--limit", "-n") { Description = "Runs per page [default: the API's]", HelpName = "N" }.WithRange(1);
    readonly Option<string?> cursor = new("--cursor") { Description = "Start at this page (the cursor a previous page gave)", HelpName = "C" };
    readonly Option<bool> all = new("--all") { Description = "Follow the cursors and list every matching run" };

    public RunsListCommand(CliContext context, CommonOptions common)
        : base("list", "List runs, newest first")
    {
        this.context = context;
        this.common = common;

        // Suggest the known states without refusing others: the API owns the list and may grow it.
        state.CompletionSources.Add([.. RunStates.All]);
        Options.Add(state);
        Options.Add(runtime);
        Options.Add(agent);
        Options.Add(tenant);
        Options.Add(limit);
        Options.Add(cursor);
        Options.Add(all);

        this.SetHandledAction(context, RunAsync);
    }

    async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var query = new RunQuery
        {
            State = result.GetValue(state),
            Runtime = result.GetValue(runtime),
            Agent = result.GetValue(agent),
            Tenant = result.GetValue(tenant),
            Limit = result.GetValue(limit),
            Cursor = result.GetValue(cursor),
        };

        using var api = common.CreateClient(result);
        var page = result.GetValue(all)
            ? await ReadAllAsync(api, query, cancellationToken).ConfigureAwait(false)
            : await api.ListRunsAsync(query, cancellationToken).ConfigureAwait(false);

        if (result.GetValue(common.Json))
        {
            JsonOutput.Write(context.Out, page);
            return ExitCodes.Success;
        }

        if (page.Items.Count == 0)
            await context.Out.WriteLineAsync("no runs match").ConfigureAwait(false);
        else
            RunText.RunsTable(page.Items, context.Time.GetUtcNow()).WriteTo(context.Out);

        if (page.NextCursor is { } next)
            await context.Error.WriteLineAsync($"more runs: add --cursor {next} (or --all)").ConfigureAwait(false);
        return ExitCodes.Success;
    }

    /// <summary>Every page from the query's cursor on, as one page with no next cursor.</summary>
    static async Task<RunPage> ReadAllAsync(ApiClient api, RunQuery query, CancellationToken cancellationToken)
    {
        var items = new List<RunView>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            var page = await api.ListRunsAsync(query, cancellationToken).ConfigureAwait(false);
            items.AddRange(page.Items);
            // A cursor seen before would loop forever; an API bug must not hang a script.
            if (page.NextCursor is not { } next || page.Items.Count == 0 || !seen.Add(next))
                return new RunPage(items, null);
            query = query with { Cursor = next };
        }
    }
}
