using System.CommandLine;
using System.CommandLine.Parsing;

using Workers.Cli.Api;
using Workers.Cli.Output;
using Workers.Contracts;
using Workers.Orchestrator.Api;
using Workers.Runs.StateMachine;

namespace Workers.Cli.Commands;

/// <summary><c>workers submit</c>: queue a run; with <c>--wait</c>, follow it to the end and exit with its outcome.</summary>
internal sealed class SubmitCommand : Command
{
    readonly CliContext context;
    readonly CommonOptions common;

    readonly Option<string> agent = new("--agent", "-a") { Description = "The agent to run (a name from the agents file)", HelpName = "NAME", Required = true };
    readonly Option<string?> input = new("--input", "-i") { Description = "The run's input text; '-' reads standard input", HelpName = "TEXT" };
    readonly Option<string?> inputFile = new("--input-file") { Description = "Read the input from a file ('-': standard input)", HelpName = "PATH" };
    readonly Option<int?> priority = new Option<int?>("--priority", "-p") { Description = "0 (lowest) to 9 (highest) [default: the fleet's]", HelpName = "N" }.WithRange(0, 9);
    readonly Option<string?> runtime = new("--runtime") { Description = "Run on this runtime (native, claude-code, process, ...) [default: the agent's]", HelpName = "R" };
    readonly Option<string?> tenant = new("--tenant") { Description = "The tenant the run belongs to", HelpName = "T" };
    readonly Option<string[]> labels = new("--label", "-l") { Description = "A label key=value; repeat for more", HelpName = "KEY=VALUE" };
    readonly Option<int?> maxAttempts = new Option<int?>("--max-attempts") { Description = "Attempts before the run fails for good [default: the fleet's]", HelpName = "N" }.WithRange(1);
    readonly Option<string?> repo = new("--repo") { Description = "Clone this git repository into the run's workspace (https://, ssh://, git@host:path, file://) [default: the agent's]", HelpName = "URL" };
    readonly Option<string?> gitRef = new("--ref") { Description = "With --repo: the branch, tag or commit to check out [default: the repository's default branch]", HelpName = "REF" };
    readonly Option<Guid?> runId = new("--run-id") { Description = "Choose the run id (an idempotency key: submitting it again changes nothing)", HelpName = "GUID" };
    readonly Option<bool> wait = new("--wait", "-w") { Description = "Wait for the run to finish, print its output and exit 0 only if it succeeded" };
    readonly Option<double?> timeout = new Option<double?>("--timeout") { Description = "With --wait: give up waiting after this many seconds (exit 2; the run goes on)", HelpName = "SECONDS" }.Seconds();

    public SubmitCommand(CliContext context, CommonOptions common)
        : base("submit", "Submit a run; prints its id, or with --wait its output")
    {
        this.context = context;
        this.common = common;

        labels.Validators.Add(Parsers.ValidateLabels);
        Options.Add(agent);
        Options.Add(input);
        Options.Add(inputFile);
        Options.Add(priority);
        Options.Add(runtime);
        Options.Add(tenant);
        Options.Add(labels);
        Options.Add(maxAttempts);
        Options.Add(repo);
        Options.Add(gitRef);
        Options.Add(runId);
        Options.Add(wait);
        Options.Add(timeout);
        Validators.Add(Validate);

        this.SetHandledAction(context, RunAsync);
    }

    void Validate(CommandResult result)
    {
        var hasInput = result.GetResult(input) is not null;
        var hasInputFile = result.GetResult(inputFile) is not null;
        if (hasInput == hasInputFile)
            result.AddError("give the run's input with exactly one of --input TEXT or --input-file PATH ('-' reads standard input)");
        if (result.GetResult(timeout) is not null && !result.GetValue(wait))
            result.AddError("--timeout only applies with --wait");
        if (result.GetResult(gitRef) is not null && result.GetResult(repo) is null)
            result.AddError("--ref only applies with --repo (the agent's own repository keeps its own ref)");
    }

    async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var json = result.GetValue(common.Json);
        var request = new SubmitRunRequest
        {
            RunId = result.GetValue(runId),
            Agent = result.GetValue(agent),
            Input = await ReadInputAsync(result, cancellationToken).ConfigureAwait(false),
            Priority = result.GetValue(priority),
            Runtime = result.GetValue(runtime),
            Tenant = result.GetValue(tenant),
            Labels = Labels(result.GetValue(labels)),
            MaxAttempts = result.GetValue(maxAttempts),
            Workspace = result.GetValue(repo) is { } repository ? new WorkspaceSpec { Repository = repository, Ref = result.GetValue(gitRef) } : null,
        };

        using var api = common.CreateClient(result);
        var accepted = await api.SubmitAsync(request, cancellationToken).ConfigureAwait(false);

        if (!result.GetValue(wait))
        {
            if (json)
                JsonOutput.Write(context.Out, accepted);
            else
                await context.Out.WriteLineAsync(accepted.RunId.ToString()).ConfigureAwait(false);
            return ExitCodes.Success;
        }

        if (!json)
            await context.Error.WriteLineAsync($"submitted run {accepted.RunId}").ConfigureAwait(false);
        return await WaitAsync(api, accepted.RunId, result.GetValue(timeout), json, cancellationToken).ConfigureAwait(false);
    }

    async Task<int> WaitAsync(ApiClient api, Guid id, double? timeoutSeconds, bool json, CancellationToken cancellationToken)
    {
        var waiter = new RunWaiter(api, context.Time, context.PollInterval);
        using var timeoutSource = timeoutSeconds is { } seconds
            ? new CancellationTokenSource(TimeSpan.FromSeconds(seconds), context.Time)
            : new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutSource.Token);

        RunView run;
        try
        {
            run = await waiter.WaitAsync(id, json ? null : ReportState, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeoutSource.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            if (json && waiter.Last is { } last)
                JsonOutput.Write(context.Out, last);
            await context.Error.WriteLineAsync(
                $"gave up waiting after {timeoutSeconds}s: run {id} is still {waiter.Last?.State ?? "not visible"}; "
                + $"it goes on (see `workers runs show {id}`)").ConfigureAwait(false);
            return ExitCodes.Timeout;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await context.Error.WriteLineAsync($"stopped waiting; run {id} goes on (stop it with `workers runs cancel {id}`)").ConfigureAwait(false);
            return ExitCodes.Interrupted;
        }

        var succeeded = run.State == RunStates.Succeeded;
        if (json)
        {
            JsonOutput.Write(context.Out, run);
        }
        else if (succeeded)
        {
            if (!string.IsNullOrEmpty(run.Output))
                await context.Out.WriteLineAsync(run.Output.TrimEnd('\n')).ConfigureAwait(false);
        }
        else
        {
            await context.Error.WriteLineAsync($"run {id} {run.State}: {(string.IsNullOrEmpty(run.Error) ? "no reason given" : run.Error)}").ConfigureAwait(false);
        }
        return succeeded ? ExitCodes.Success : ExitCodes.RunDidNotSucceed;

        void ReportState(RunView view) => context.Error.WriteLine($"run {id}: {RunText.StateLine(view)}");
    }

    async Task<string> ReadInputAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var text = result.GetValue(input);
        var path = result.GetValue(inputFile);
        if (text is not null && text != "-")
            return text;
        if (text == "-" || path is null or "-")
            return await context.In.ReadToEndAsync(cancellationToken).ConfigureAwait(false);

        var fullPath = Path.GetFullPath(path, context.CurrentDirectory);
        try
        {
            return await File.ReadAllTextAsync(fullPath, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read --input-file '{path}': {e.Message}");
        }
    }

    static Dictionary<string, string>? Labels(string[]? values)
    {
        if (values is not { Length: > 0 })
            return null;
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var value in values)
        {
            // Validated at parse time (Parsers.ValidateLabels).
            Parsers.TrySplitLabel(value, out var key, out var labelValue);
            labels[key] = labelValue;
        }
        return labels;
    }
}
