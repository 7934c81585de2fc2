using System.CommandLine;

using Workers.Cli.Output;

namespace Workers.Cli.Commands;

/// <summary><c>workers workers</c>: the worker registry as a table.</summary>
internal sealed class WorkersCommand : Command
{
    readonly CliContext context;
    readonly CommonOptions common;

    public WorkersCommand(CliContext context, CommonOptions common)
        : base("workers", "List the workers: runtimes, busy slots, last heartbeat")
    {
        this.context = context;
        this.common = common;
        this.SetHandledAction(context, RunAsync);
    }

    async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        using var api = common.CreateClient(result);
        var workers = await api.ListWorkersAsync(cancellationToken).ConfigureAwait(false);

        if (result.GetValue(common.Json))
            JsonOutput.Write(context.Out, workers);
        else if (workers.Count == 0)
            await context.Out.WriteLineAsync("no workers registered").ConfigureAwait(false);
        else
        {
            var ordered = workers.OrderBy(w => w.WorkerId, StringComparer.Ordinal).ToList();
            RunText.WorkersTable(ordered, context.Time.GetUtcNow()).WriteTo(context.Out);
            RunText.WriteUnavailable(context.Out, ordered);
        }
        return ExitCodes.Success;
    }
}
