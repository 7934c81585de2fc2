using System.CommandLine;

using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

using Workers.Agents.Definitions;
using Workers.Cli.Api;
using Workers.Cli.Dev;
using Workers.Cli.Output;

namespace Workers.Cli.Commands;

/// <summary>
/// <c>workers dev</c>: the whole fleet in this process — orchestrator, API and one worker — over the in-memory bus
/// and a SQLite saga store. The embedded default (design §7).
/// </summary>
internal sealed class DevCommand : Command
{
    readonly CliContext context;
    readonly CommonOptions common;

    readonly Option<string> urls = new("--urls") { Description = "Where the API listens (';' between several)", HelpName = "URL", DefaultValueFactory = _ => DevSettings.DefaultUrls };
    readonly Option<string?> agents = new("--agents") { Description = "The agents file [default: examples/agents.yaml in this directory or a parent, else ./agents.yaml]", HelpName = "PATH" };
    readonly Option<string> data = new("--data") { Description = "The SQLite database for the run state (its directory is created)", HelpName = "PATH", DefaultValueFactory = _ => DevSettings.DefaultDataPath };
    readonly Option<int?> slots = new Option<int?>("--slots") { Description = "How many runs the embedded worker runs at once [default: the worker's]", HelpName = "N" }.WithRange(1);
    readonly Option<bool> demo = new("--demo") { Description = "Once started, submit a few example runs and show them progress" };

    public DevCommand(CliContext context, CommonOptions common)
        : base("dev", "Run the whole fleet in this process (in-memory bus, SQLite), until Ctrl+C")
    {
        this.context = context;
        this.common = common;
        Options.Add(urls);
        Options.Add(agents);
        Options.Add(data);
        Options.Add(slots);
        Options.Add(demo);
        this.SetHandledAction(context, RunAsync);
    }

    async Task<int> RunAsync(ParseResult result, CancellationToken cancellationToken)
    {
        var settings = DevSettings.Resolve(result.GetValue(urls), result.GetValue(agents), result.GetValue(data), result.GetValue(slots), context.CurrentDirectory);
        if (!File.Exists(settings.AgentsPath))
        {
            throw new UsageException(result.GetValue(agents) is null
                ? $"no agents file: there is no examples/agents.yaml in {context.CurrentDirectory} or a parent, nor {settings.AgentsPath}; pass --agents PATH"
                : $"the agents file {settings.AgentsPath} does not exist; pass --agents PATH");
        }
        var json = result.GetValue(common.Json);
        // With --json, stdout carries only the demo's JSON summary; everything for people goes to stderr.
        var say = json ? context.Error : context.Out;

        try
        {
            var builder = DevHost.CreateBuilder(settings, context.CurrentDirectory);
            builder.AddServiceDefaults();
            builder.AddOrchestrator();
            builder.AddWorker();
            builder.AddWorkersBus();
            var app = builder.Build();
            app.MapOrchestrator();

            var afterStart = AfterStartAsync(app, settings, result.GetValue(demo), json, say);
            var exitCode = await app.RunToExitCodeAsync(cancellationToken).ConfigureAwait(false);
            await afterStart.ConfigureAwait(false);
            if (exitCode != 0)
            {
                await context.Error.WriteLineAsync($"workers dev stopped on a failure (exit code {exitCode}); the log above says what failed").ConfigureAwait(false);
                return ExitCodes.HostFailed;
            }
        }
        catch (Exception e) when (e is IOException or OptionsValidationException or AgentDefinitionException)
        {
            // Address in use, a setting a library refused, a broken agents file: each message names what to change.
            await context.Error.WriteLineAsync($"workers dev could not start: {e.Message}").ConfigureAwait(false);
            return ExitCodes.HostFailed;
        }

        await say.WriteLineAsync("workers dev stopped").ConfigureAwait(false);
        return ExitCodes.Success;
    }

    /// <summary>Once the app listens: the banner, then the demo. Ends when the demo does or the app stops.</summary>
    async Task AfterStartAsync(WebApplication app, DevSettings settings, bool runDemo, bool json, TextWriter say)
    {
        var stopping = app.Lifetime.ApplicationStopping;
        try
        {
            await WhenStartedAsync(app.Lifetime).ConfigureAwait(false);
            if (stopping.IsCancellationRequested)
                return;

            var api = DevHost.ClientUrl(app.Urls);
            await WriteBannerAsync(say, settings, api).ConfigureAwait(false);
            if (!runDemo)
                return;

            using var client = ApiClient.Create(api);
            var runs = await new DemoRunner(client, say, context.Time, context.PollInterval).RunAsync(stopping).ConfigureAwait(false);
            if (runs is null)
                return;
            if (json)
            {
                JsonOutput.Write(context.Out, runs);
            }
            else
            {
                await say.WriteLineAsync().ConfigureAwait(false);
                DemoRunner.Summary(runs).WriteTo(say);
                await say.WriteLineAsync($"{Environment.NewLine}demo done; still serving at {api.AbsoluteUri.TrimEnd('/')} (Ctrl+C to stop)").ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Ctrl+C during the demo: the host is stopping, which is the end the user asked for.
        }
        catch (OrchestratorUnreachableException e)
        {
            await context.Error.WriteLineAsync($"demo: {e.Message}").ConfigureAwait(false);
        }
    }

    static Task WhenStartedAsync(IHostApplicationLifetime lifetime)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Stopping also releases the wait: a host that fails to start never signals ApplicationStarted.
        lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        lifetime.ApplicationStopping.Register(() => started.TrySetResult());
        return started.Task;
    }

    static async Task WriteBannerAsync(TextWriter say, DevSettings settings, Uri api)
    {
        var url = api.AbsoluteUri.TrimEnd('/');
        var apiFlag = url == ApiClient.DefaultUrl ? "" : $" --api {url}";
        await say.WriteLineAsync($"""

            workers dev: orchestrator, API and worker in one process (in-memory bus, SQLite)
              API     {url}
              agents  {settings.AgentsPath}
              data    {settings.DataPath}

              submit  workers submit{apiFlag} --agent echo --input "hello" --wait
              watch   workers runs list{apiFlag}
            Ctrl+C stops it.

            """).ConfigureAwait(false);
    }
}
