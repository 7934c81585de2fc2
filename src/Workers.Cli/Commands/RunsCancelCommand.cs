using System.CommandLine;

using Workers.Cli.Output;

namespace Workers.Cli.Commands;

/// <summary><c>workers runs cancel ID</c>: ask the fleet to stop a run. Cancelling a finished run is not an error.</summary>
internal sealed class RunsCancelCommand : Command
{
    readonly CliContext context;
    readonly CommonOptions common;

    readonly Argument<Guid> id = new("ID") { Description = "The run id", CustomParser = Parsers.RunId };
    readonly Option<string?> reason = new("--reason") { Description = "Why, for the run's record", HelpName = "TEXT" };

    public RunsCancelCommand(CliContext context, CommonOptions common)
        : base("cancel", "Cancel a run: a queued run stops at once, a running one is told to stop")
    {
        this.context = context;
        this.common = common;
        Arguments.Add(id);
        Options.Add(reason);
        this.SetHandledAction(context, RunAsync);
    }

    async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        using var api = common.CreateClient(result);
        var runId = result.GetValue(id);
        var outcome = await api.CancelAsync(runId, result.GetValue(reason), cancellationToken).ConfigureAwait(false);

        if (result.GetValue(common.Json))
        {
            JsonOutput.Write(context.Out, outcome.Accepted);
            return ExitCodes.Success;
        }

        var accepted = outcome.Accepted;
        var detail = accepted.Detail?.Trim().TrimEnd('.');
        await context.Out.WriteLineAsync(outcome.Requested
            ? $"run {runId}: {(string.IsNullOrEmpty(detail) ? "cancel requested" : detail)} (was {accepted.State})"
            : $"run {runId}: {(string.IsNullOrEmpty(detail) ? $"already finished as {accepted.State}; nothing changed" : detail)}").ConfigureAwait(false);
        return ExitCodes.Success;
    }
}
