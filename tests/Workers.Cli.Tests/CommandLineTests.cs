using Workers.Cli.Tests.Support;

namespace Workers.Cli.Tests;

/// <summary>What the parser accepts and refuses, before anything is sent (no server: a bad line never gets that far).</summary>
public sealed class CommandLineTests
{
    [Theory]
    [InlineData("submit", "--input", "hi")]
    [InlineData("submit", "--agent", "echo")]
    [InlineData("submit", "--agent", "echo", "--input", "hi", "--input-file", "x.txt")]
    [InlineData("submit", "--agent", "echo", "--input", "hi", "--label", "novalue")]
    [InlineData("submit", "--agent", "echo", "--input", "hi", "--label", "=x")]
    [InlineData("submit", "--agent", "echo", "--input", "hi", "--label", "a=1", "--label", "a=2")]
    [InlineData("submit", "--agent", "echo", "--input", "hi", "--priority", "10")]
    [InlineData("submit", "--agent", "echo", "--input", "hi", "--priority", "high")]
    [InlineData("submit", "--agent", "echo", "--input", "hi", "--max-attempts", "0")]
    [InlineData("submit", "--agent", "echo", "--input", "hi", "--run-id", "not-a-guid")]
    [InlineData("submit", "--agent", "echo", "--input", "hi", "--timeout", "5")]
    [InlineData("submit", "--agent", "echo", "--input", "hi", "--wait", "--timeout", "-1")]
    [InlineData("runs", "show", "abc")]
    [InlineData("runs", "show")]
    [InlineData("runs", "cancel")]
    [InlineData("runs", "list", "--limit", "0")]
    [InlineData("runs")]
    [InlineData("dev", "--slots", "0")]
    [InlineData("frobnicate")]
    [InlineData()]
    public async Task A_bad_command_line_exits_64_with_the_reason_on_stderr(params string[] args)
    {
        var result = await Shell.RunAsync(args, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.StartsWith("error: ", result.Error, StringComparison.Ordinal);
        Assert.Contains("--help' for usage.", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task A_bad_value_says_what_a_good_one_looks_like()
    {
        var result = await Shell.RunAsync(["submit", "--agent", "echo", "--input", "hi", "--priority", "12"], cancellationToken: TestContext.Current.CancellationToken);

        Assert.Contains("--priority '12' is not valid: expected a whole number from 0 to 9", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_api_url_is_a_usage_error_naming_where_it_came_from()
    {
        var fromFlag = await Shell.RunAsync(["workers", "--api", "localhost:5080"], cancellationToken: TestContext.Current.CancellationToken);
        var fromEnvironment = await Shell.RunAsync(["workers"], environment: new Dictionary<string, string> { ["WORKERS_API"] = "ftp://x" },
            cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(ExitCodes.Usage, fromFlag.ExitCode);
        Assert.Contains("--api 'localhost:5080' is not an http:// or https:// URL", fromFlag.Error, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Usage, fromEnvironment.ExitCode);
        Assert.Contains("WORKERS_API 'ftp://x'", fromEnvironment.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_shows_the_public_command_name_and_exits_0()
    {
        var root = await Shell.RunAsync(["--help"], cancellationToken: TestContext.Current.CancellationToken);
        var submit = await Shell.RunAsync(["submit", "--help"], cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(ExitCodes.Success, root.ExitCode);
        Assert.Contains("workers [command] [options]", root.Out, StringComparison.Ordinal);
        Assert.DoesNotContain(HelpText.InternalName, root.Out, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Success, submit.ExitCode);
        Assert.Contains("workers submit [options]", submit.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("submit")]
    [InlineData("runs list")]
    [InlineData("runs show")]
    [InlineData("runs cancel")]
    [InlineData("workers")]
    [InlineData("dev")]
    public async Task Every_command_takes_json_and_api(string command)
    {
        var result = await Shell.RunAsync([.. command.Split(' '), "--help"], cancellationToken: TestContext.Current.CancellationToken);

        Assert.Contains("--json", result.Out, StringComparison.Ordinal);
        Assert.Contains("--api <URL>", result.Out, StringComparison.Ordinal);
    }
}
