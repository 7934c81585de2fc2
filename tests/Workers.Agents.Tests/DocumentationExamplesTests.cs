using System.Text.RegularExpressions;

using Workers.Agents.Runtimes;

namespace Workers.Agents.Tests;

/// <summary>The example agents in docs/process-protocol.md, run through the process runtime, so the page stays true.</summary>
public sealed partial class DocumentationExamplesTests : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly RecordingSink _events = new();

    public void Dispose() => _directory.Dispose();

    private static string CodeBlock(string language, string firstLine)
    {
        var page = File.ReadAllText(Path.Combine(TestData.RepositoryRoot(), "docs", "process-protocol.md"));
        return CodeBlocks().Matches(page)
            .Where(m => m.Groups["language"].Value == language && m.Groups["code"].Value.StartsWith(firstLine, StringComparison.Ordinal))
            .Select(m => m.Groups["code"].Value)
            .Single();
    }

    private async Task<AgentOutcome> RunAsync(string script, string input)
    {
        var path = _directory.WriteExecutable("agent", script);
        return await new ProcessRuntime()
            .RunAsync(TestData.Invocation(_directory.Workspace, new { command = path }, input), _events, TestContext.Current.CancellationToken)
            .WaitAsync(TestData.Guard, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task The_bash_example_works()
    {
        var outcome = await RunAsync(CodeBlock("bash", "#!/usr/bin/env bash"), "hello \"big\" world\nline two");

        Assert.Equal(new AgentOutcome.Succeeded("HELLO \"BIG\" WORLD\nLINE TWO"), outcome);
        Assert.Contains(new AgentEvent.Usage(Steps: 1), _events.Events);
        Assert.Contains(new AgentEvent.Log("upper-cased 26 characters"), _events.Events);
    }

    [Fact]
    public async Task The_python_example_works()
    {
        Assert.SkipUnless(
            (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, "python3"))),
            "python3 is not installed");

        var script = CodeBlock("python", "#!/usr/bin/env python3");

        Assert.Equal(new AgentOutcome.Succeeded("3 words"), await RunAsync(script, "one two three"));
        Assert.Contains(new AgentEvent.ToolCompleted("word_count", "3"), _events.Events);
        Assert.Equal(
            new AgentOutcome.Failed("The input is empty; give me some text.", ProcessRuntime.AgentErrorFailure, Retryable: false, ""),
            await RunAsync(script, "  "));
    }

    [GeneratedRegex(@"^```(?<language>\w+)\n(?<code>.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex CodeBlocks();
}
