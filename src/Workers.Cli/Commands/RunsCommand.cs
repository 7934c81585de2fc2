using System.CommandLine;

namespace Workers.Cli.Commands;

/// <summary><c>workers runs</c>: the group for inspecting and steering runs.</summary>
internal sealed class RunsCommand : Command
{
    public RunsCommand(CliContext context, CommonOptions common)
        : base("runs", "List, show and cancel runs, and read their event logs")
    {
        Subcommands.Add(new RunsListCommand(context, common));
        Subcommands.Add(new RunsShowCommand(context, common));
        Subcommands.Add(new RunsCancelCommand(context, common));
        Subcommands.Add(new RunsEventsCommand(context, common));
    }
}
