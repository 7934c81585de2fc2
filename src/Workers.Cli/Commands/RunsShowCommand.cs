using System.CommandLine;

using Workers.Cli.Output;

namespace Workers.Cli.Commands;

/// <summary><c>workers runs show ID</c>: every field of one run.</summary>
internal sealed class RunsShowCommand : Command
{
    readonly CliContext context;
    readonly CommonOptions common;

    readonly Argument<Guid> id = new("ID") { Description = "The run id", CustomParser = Parsers.RunId };

    public RunsShowCommand(CliContext context, CommonOptions common)
        : base("show", "Show one run: state, attempts, times, usage, input, output and error")
    {
        this.context = context;
        this.common = common;
        Arguments.Add(id);
        this.SetHandledAction(context, RunAsync);
    }

    async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        using var api = common.CreateClient(result);
        var run = await api.GetRunAsync(result.GetValue(id), cancellationToken).ConfigureAwait(false);

        if (result.GetValue(common.Json))
            JsonOutput.Write(context.Out, run);
        else
            RunText.WriteDetails(context.Out, run, context.Time.GetUtcNow());
        return ExitCodes.Success;
    }
}
