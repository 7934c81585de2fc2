using System.CommandLine;

using Workers.Cli.Api;

namespace Workers.Cli.Commands;

/// <summary><c>--json</c> and <c>--api</c>: declared once on the root, recursive, so every command takes them.</summary>
internal sealed class CommonOptions
{
    public const string ApiEnvironmentVariable = "WORKERS_API";

    readonly CliContext context;

    public CommonOptions(CliContext context)
    {
        this.context = context;
        Api = new Option<string?>("--api")
        {
            Description = $"The orchestrator's HTTP API [default: ${ApiEnvironmentVariable}, else {ApiClient.DefaultUrl}]",
            HelpName = "URL",
            Recursive = true,
        };
    }

    public Option<bool> Json { get; } = new("--json")
    {
        Description = "Print the API's JSON (one document) instead of text, for scripts and jq",
        Recursive = true,
    };

    public Option<string?> Api { get; }

    /// <summary>The API URL: <c>--api</c>, else <c>$WORKERS_API</c>, else the local default. A malformed one is a usage error.</summary>
    public Uri ApiUrl(ParseResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (result.GetValue(Api) is { Length: > 0 } explicitUrl)
            return ApiClient.ParseUrl(explicitUrl, "--api");
        if (context.GetEnvironmentVariable(ApiEnvironmentVariable) is { Length: > 0 } environmentUrl)
            return ApiClient.ParseUrl(environmentUrl, ApiEnvironmentVariable);
        return new Uri(ApiClient.DefaultUrl);
    }

    /// <summary>A client for this invocation's API; dispose it when the command ends.</summary>
    public ApiClient CreateClient(ParseResult result) => ApiClient.Create(ApiUrl(result));
}
