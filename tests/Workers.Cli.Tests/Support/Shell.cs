namespace Workers.Cli.Tests.Support;

/// <summary>What one in-process <c>workers</c> invocation printed and returned.</summary>
sealed record CliResult(int ExitCode, string Out, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}--- stderr\n{Error}";
}

/// <summary>Runs the <c>workers</c> command in-process with captured streams, a fixed "now" and a fast poll.</summary>
static class Shell
{
    public static async Task<CliResult> RunAsync(
        string[] args,
        string? stdin = null,
        IReadOnlyDictionary<string, string>? environment = null,
        string? currentDirectory = null,
        CancellationToken cancellationToken = default)
    {
        var output = new SharedTextWriter();
        var error = new SharedTextWriter();
        var context = Context(output, error, stdin, environment, currentDirectory);
        var exitCode = await WorkersCli.InvokeAsync(args, context, cancellationToken);
        return new CliResult(exitCode, output.ToString(), error.ToString());
    }

    /// <summary>Runs <c>workers --api URL args...</c>.</summary>
    public static Task<CliResult> RunAsync(Uri api, params string[] args) =>
        RunAsync([.. args, "--api", api.AbsoluteUri], cancellationToken: TestContext.Current.CancellationToken);

    public static CliContext Context(
        TextWriter output,
        TextWriter error,
        string? stdin = null,
        IReadOnlyDictionary<string, string>? environment = null,
        string? currentDirectory = null) => new()
        {
            Out = output,
            Error = error,
            In = new StringReader(stdin ?? ""),
            // Never the real environment: a developer's WORKERS_API must not leak into a test.
            GetEnvironmentVariable = name => environment?.GetValueOrDefault(name),
            CurrentDirectory = currentDirectory ?? Directory.GetCurrentDirectory(),
            Time = new FixedNow(FixedNow.Default),
            PollInterval = TimeSpan.FromMilliseconds(10),
        };
}
