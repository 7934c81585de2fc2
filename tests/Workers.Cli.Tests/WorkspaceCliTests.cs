using Workers.Cli.Output;
using Workers.Cli.Tests.Support;
using Workers.Contracts;
using Workers.Orchestrator.Api;

namespace Workers.Cli.Tests;

/// <summary><c>workers submit --repo --ref</c> and the artifacts in <c>workers runs show</c>.</summary>
public sealed class WorkspaceCliTests : IAsyncLifetime
{
    FakeOrchestrator fake = null!;

    public async ValueTask InitializeAsync() => fake = await FakeOrchestrator.StartAsync(TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync() => await fake.DisposeAsync();

    [Fact]
    public async Task Submit_sends_the_repository_and_ref()
    {
        var result = await Shell.RunAsync(fake.Url, "submit", "-a", "echo", "-i", "hi", "--repo", "file:///srv/git/app.git", "--ref", "v1.2");

        Assert.Equal(ExitCodes.Success, result.ExitCode);
        Assert.Equal(new WorkspaceSpec { Repository = "file:///srv/git/app.git", Ref = "v1.2" }, Assert.Single(fake.Submissions).Workspace);
    }

    [Fact]
    public async Task Without_repo_the_agents_workspace_applies_and_a_ref_alone_is_a_usage_error()
    {
        await Shell.RunAsync(fake.Url, "submit", "-a", "echo", "-i", "hi");
        Assert.Null(Assert.Single(fake.Submissions).Workspace);

        var result = await Shell.RunAsync(fake.Url, "submit", "-a", "echo", "-i", "hi", "--ref", "main");

        Assert.Equal(ExitCodes.Usage, result.ExitCode);
        Assert.Contains("--ref only applies with --repo", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Show_prints_the_artifacts_after_the_output()
    {
        var run = FakeOrchestrator.Run(Guid.NewGuid(), "Succeeded") with
        {
            Artifacts = new RunArtifacts
            {
                FilesChanged = ["NOTES.md", "README.md"],
                DiffSummary = " NOTES.md  | 1 +\n README.md | 1 +\n 2 files changed, 2 insertions(+)",
                Commands = ["echo edited >> README.md", "make\ntest"],
                HandOff = "Edited README.md",
                BaseCommit = "0123456789abcdef0123456789abcdef01234567",
            },
        };
        using var writer = new StringWriter();

        RunText.WriteDetails(writer, run, FixedNow.Default);

        Assert.EndsWith(
            """
            Base commit: 0123456789abcdef0123456789abcdef01234567
            Files changed:
              NOTES.md
              README.md
            Diff summary:
               NOTES.md  | 1 +
               README.md | 1 +
               2 files changed, 2 insertions(+)
            Commands:
              $ echo edited >> README.md
              $ make test
            Hand-off:
              Edited README.md

            """.ReplaceLineEndings(), writer.ToString());
    }

    [Fact]
    public void Show_says_when_a_run_changed_no_files()
    {
        var run = FakeOrchestrator.Run(Guid.NewGuid(), "Succeeded") with { Artifacts = new RunArtifacts() };
        using var writer = new StringWriter();

        RunText.WriteDetails(writer, run, FixedNow.Default);

        Assert.EndsWith("Files changed: none" + Environment.NewLine, writer.ToString(), StringComparison.Ordinal);
    }
}
