using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

using Workers.Cli.Commands;

namespace Workers.Cli;

/// <summary>The <c>workers</c> command tree and its entry point.</summary>
internal static class WorkersCli
{
    /// <summary>
    /// How long Ctrl+C / SIGTERM waits for a command to wind down before the process exits anyway; long enough for
    /// <c>dev</c> to stop its host (whose own shutdown timeout is 30 s).
    /// </summary>
    static readonly TimeSpan TerminationGrace = TimeSpan.FromSeconds(35);

    public static Command CreateRootCommand(CliContext context)
    {
        var common = new CommonOptions(context);
        // Not a RootCommand: its name is the executable's, "workers", which the `workers` subcommand would collide with.
        var root = new Command(HelpText.InternalName, "Submit, watch and cancel agent runs on a Workers fleet, or run the whole fleet locally with `workers dev`.")
        {
            HelpText.CreateOption(),
            new VersionOption(),
            common.Json,
            common.Api,
            new SubmitCommand(context, common),
            new RunsCommand(context, common),
            new WorkersCommand(context, common),
            new DevCommand(context, common),
        };
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>; returns the exit code (see <see cref="ExitCodes"/>).</summary>
    public static async Task<int> InvokeAsync(string[] args, CliContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var result = CreateRootCommand(context).Parse(args);

        // System.CommandLine reports parse errors with exit code 1, which here means "the run failed"; a bad command
        // line gets its own code so scripts can tell the two apart.
        if (result.Action is ParseErrorAction)
        {
            foreach (var error in result.Errors)
                await context.Error.WriteLineAsync($"error: {error.Message}").ConfigureAwait(false);
            await context.Error.WriteLineAsync($"Run '{CommandPath(result)} --help' for usage.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        var invocation = new InvocationConfiguration
        {
            Output = context.Out,
            Error = context.Error,
            ProcessTerminationTimeout = context.HandleProcessTermination ? TerminationGrace : null,
        };
        return await result.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
    }

    static string CommandPath(ParseResult result)
    {
        var names = new List<string>();
        for (var command = result.CommandResult; command is not null; command = command.Parent as System.CommandLine.Parsing.CommandResult)
            names.Add(command.Command.Name);
        names[^1] = HelpText.PublicName;
        names.Reverse();
        return string.Join(' ', names);
    }
}
