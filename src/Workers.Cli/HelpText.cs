using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace Workers.Cli;

/// <summary>
/// <c>--help</c> that shows the root under its public name. The root command carries an internal name because
/// System.CommandLine 2.0 crashes when a subcommand shares the root's name (dotnet/command-line-api#2260), and
/// <c>workers workers</c> is part of the interface.
/// </summary>
internal sealed class HelpText : SynchronousCommandLineAction
{
    public const string PublicName = "workers";

    /// <summary>The root's name inside the parser; it never reaches the user.</summary>
    public const string InternalName = "workers-cli";

    readonly HelpAction inner = new();

    public override bool ClearsParseErrors => true;

    /// <summary>A <c>--help</c> option answered by this action.</summary>
    public static HelpOption CreateOption()
    {
        var option = new HelpOption();
        option.Action = new HelpText();
        return option;
    }

    public override int Invoke(ParseResult parseResult)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        // The built-in help writes to the invocation's output; render it aside and rename the root on the way out.
        var configuration = parseResult.InvocationConfiguration;
        var output = configuration.Output;
        using var buffer = new StringWriter();
        configuration.Output = buffer;
        try
        {
            inner.Invoke(parseResult);
        }
        finally
        {
            configuration.Output = output;
        }
        output.Write(buffer.ToString().Replace(InternalName, PublicName, StringComparison.Ordinal));
        return ExitCodes.Success;
    }
}
