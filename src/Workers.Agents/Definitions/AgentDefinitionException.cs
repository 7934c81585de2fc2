namespace Workers.Agents.Definitions;

/// <summary>
/// The agent definitions could not be loaded: the file is missing, is not valid YAML, or breaks a rule.
/// <see cref="Exception.Message"/> lists every problem found, each with the file and the field path.
/// </summary>
public sealed class AgentDefinitionException : Exception
{
    public AgentDefinitionException()
        : this("The agent definitions are invalid.")
    {
    }

    public AgentDefinitionException(string message)
        : this(message, innerException: null)
    {
    }

    public AgentDefinitionException(string message, Exception? innerException)
        : base(message, innerException)
    {
        Errors = [message];
    }

    /// <summary>Creates the exception for several problems; the message lists them one per line.</summary>
    public AgentDefinitionException(IReadOnlyList<string> errors)
        : base(Describe(errors))
    {
        Errors = errors;
    }

    /// <summary>Each problem on its own, e.g. <c>agents.yaml: agents.echo.runtime: unknown runtime 'proces'; known runtimes: process (line 4, column 14)</c>.</summary>
    public IReadOnlyList<string> Errors { get; }

    private static string Describe(IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        return errors.Count == 1
            ? errors[0]
            : $"The agent definitions have {errors.Count} errors:{Environment.NewLine}{string.Join(Environment.NewLine, errors)}";
    }
}
