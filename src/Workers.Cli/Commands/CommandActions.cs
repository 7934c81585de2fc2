using System.CommandLine;

using Workers.Cli.Api;

namespace Workers.Cli.Commands;

/// <summary>
/// Binds a command's action and turns the user's mistakes and the API's answers into one line on stderr and an
/// exit code, never a stack trace. Anything else is a bug and keeps System.CommandLine's default handling.
/// </summary>
internal static class CommandActions
{
    public static void SetHandledAction(this Command command, CliContext context, Func<ParseResult, CancellationToken, Task<int>> action)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(action);

        command.SetAction(async (result, cancellationToken) =>
        {
            try
            {
                return await action(result, cancellationToken).ConfigureAwait(false);
            }
            catch (UsageException e)
            {
                await context.Error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }
            catch (OrchestratorUnreachableException e)
            {
                await context.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
                return ExitCodes.Unreachable;
            }
            catch (ApiProblemException e)
            {
                await context.Error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
                return ExitCodes.ApiError;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Ctrl+C is a normal way to stop a command, not a failure worth a trace.
                return ExitCodes.Interrupted;
            }
        });
    }
}
