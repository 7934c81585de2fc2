using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.Options;
using Workers.Agents.Definitions;
using Workers.Contracts;
using Workers.Runs.Admission;
using Workers.Runs.StateMachine;
using Workers.Runs.Tests.Support;

namespace Workers.Runs.Tests.Workspaces;

/// <summary>Which repository a run's workspace gets (the request's over the agent's), and how a bad one is refused.</summary>
public sealed class WorkspaceAdmission_Specs
{
    sealed class Catalog : IAgentCatalog
    {
        readonly Dictionary<string, AgentDefinition> _agents = new()
        {
            ["plain"] = Agent("plain", null),
            ["repo"] = Agent("repo", new WorkspaceSpec { Repository = "https://git.example.com/team/app.git", Ref = "main" }),
            ["broken"] = Agent("broken", new WorkspaceSpec { Repository = "../app" }),
        };

        static AgentDefinition Agent(string name, WorkspaceSpec? workspace) => new()
        {
            Name = name,
            Runtimes = ["process"],
            Settings = new Dictionary<string, JsonElement> { ["process"] = JsonSerializer.SerializeToElement(new { command = "agent.sh" }) },
            Workspace = workspace,
        };

        public IReadOnlyCollection<AgentDefinition> Agents => _agents.Values;

        public bool TryGet(string name, out AgentDefinition definition) => _agents.TryGetValue(name, out definition!);
    }

    static readonly RunAdmission Admission = new(new Catalog(), new FixedLiveRuntimes("process"), Options.Create(new RunOptions()));

    static AdmissionResult Admit(string agent, WorkspaceSpec? workspace = null) =>
        Admission.Admit(new SubmitRun { RunId = NewId.NextGuid(), Agent = agent, Input = "work", Workspace = workspace });

    [Fact]
    public void The_agents_repository_is_carried_on_the_spec()
    {
        var result = Admit("repo");

        Assert.True(result.Admitted, result.RejectionReason);
        Assert.Equal(new WorkspaceSpec { Repository = "https://git.example.com/team/app.git", Ref = "main" }, result.Spec!.Workspace);
    }

    [Fact]
    public void The_requests_repository_wins_over_the_agents_as_a_whole()
    {
        var result = Admit("repo", new WorkspaceSpec { Repository = "file:///srv/git/other.git" });

        Assert.True(result.Admitted, result.RejectionReason);
        // The agent's ref belongs to the agent's repository: it is not carried over.
        Assert.Equal(new WorkspaceSpec { Repository = "file:///srv/git/other.git" }, result.Spec!.Workspace);
    }

    [Fact]
    public void An_agent_without_a_repository_gets_an_empty_workspace_unless_the_request_names_one()
    {
        Assert.Null(Admit("plain").Spec!.Workspace);
        Assert.Equal("git@github.com:team/app.git", Admit("plain", new WorkspaceSpec { Repository = "git@github.com:team/app.git", Ref = "v1.2" }).Spec!.Workspace!.Repository);
    }

    [Theory]
    [InlineData("https://git.example.com/team/app.git")]
    [InlineData("http://127.0.0.1:8080/app.git")]
    [InlineData("ssh://git@git.example.com:2222/team/app.git")]
    [InlineData("git@github.com:team/app.git")]
    [InlineData("file:///srv/git/app.git")]
    public void Accepted_repository_urls(string repository)
    {
        var result = Admit("plain", new WorkspaceSpec { Repository = repository });

        Assert.True(result.Admitted, result.RejectionReason);
    }

    [Theory]
    [InlineData("/srv/git/app.git", "workspace.repository '/srv/git/app.git' is a local path, not a URL; write it as file:///absolute/path")]
    [InlineData("../app", "workspace.repository '../app' is a local path, not a URL; write it as file:///absolute/path")]
    [InlineData("", "workspace.repository is empty; use https://, http://, ssh://, git@host:path or file:///absolute/path")]
    [InlineData("ftp://example.com/app.git", "workspace.repository 'ftp://example.com/app.git' uses the unsupported scheme 'ftp'")]
    [InlineData("--upload-pack=touch /tmp/x", "workspace.repository '--upload-pack=touch /tmp/x' contains spaces or control characters")]
    [InlineData("-uhttps://x", "workspace.repository '-uhttps://x' starts with '-'")]
    [InlineData("https:///app.git", "workspace.repository 'https:///app.git' is not a valid URL")]
    [InlineData("file://host/app.git", "workspace.repository 'file://host/app.git' must name an absolute path on this machine")]
    public void A_malformed_repository_in_the_request_is_rejected_with_a_reason(string repository, string reason)
    {
        var result = Admit("plain", new WorkspaceSpec { Repository = repository });

        Assert.False(result.Admitted);
        Assert.StartsWith(reason, result.RejectionReason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("-main")]
    [InlineData("feature branch")]
    [InlineData("main..other")]
    [InlineData("HEAD~1")]
    [InlineData("")]
    public void A_malformed_ref_is_rejected(string reference)
    {
        var result = Admit("plain", new WorkspaceSpec { Repository = "https://git.example.com/app.git", Ref = reference });

        Assert.False(result.Admitted);
        Assert.StartsWith("workspace.ref ", result.RejectionReason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_repository_on_the_agent_points_at_the_agents_file()
    {
        var result = Admit("broken");

        Assert.False(result.Admitted);
        Assert.Equal("the agent's workspace.repository '../app' is a local path, not a URL; write it as file:///absolute/path " +
            "(or use https://, http://, ssh://, git@host:path or file:///absolute/path); fix the agents file.", result.RejectionReason);
    }

    [Fact]
    public async Task A_rejected_workspace_is_recorded_on_the_run_and_nothing_is_dispatched()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();

        await fixture.Send(new SubmitRun { RunId = id, Agent = "echo", Input = "work", Workspace = new WorkspaceSpec { Repository = "./repo" } });

        var run = await fixture.WaitFor(id, m => m.Rejected);
        Assert.Contains("workspace.repository './repo' is a local path", run.LastError, StringComparison.Ordinal);
        Assert.Equal(0, fixture.Dispatches(id, 1));
    }

    [Fact]
    public async Task The_resolved_workspace_travels_on_every_dispatch()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();
        var workspace = new WorkspaceSpec { Repository = "file:///srv/git/app.git", Ref = "v2" };

        await fixture.Send(new SubmitRun { RunId = id, Agent = "echo", Input = "work", Workspace = workspace });

        await fixture.WaitFor(id, m => m.Queued);
        var dispatch = fixture.Harness.Sent.Select<ExecuteRun>(TestContext.Current.CancellationToken).Single(m => m.Context.Message.RunId == id);
        Assert.Equal(workspace, dispatch.Context.Message.Agent.Workspace);
    }

    [Fact]
    public async Task Artifacts_of_the_accepted_result_are_kept_and_a_stale_ones_are_ignored()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();
        await fixture.Send(new SubmitRun { RunId = id, Agent = "echo", Input = "work" });
        await fixture.WaitFor(id, m => m.Queued);
        var lease = await fixture.Claim(id, 1);
        await fixture.WaitFor(id, m => m.Running);

        await fixture.Send(new RunSucceeded { RunId = id, Attempt = 1, LeaseId = Guid.NewGuid(), Output = "forged", Artifacts = new RunArtifacts { FilesChanged = ["forged.txt"] } });
        await fixture.Consumed<RunSucceeded>(id);
        Assert.Null(fixture.Saga.Sagas.Contains(id).ArtifactsJson);

        var artifacts = new RunArtifacts
        {
            FilesChanged = ["README.md", "new.txt"],
            DiffSummary = " 2 files changed, 3 insertions(+)",
            Commands = ["ls -la"],
            HandOff = "done",
            BaseCommit = "0123456789abcdef0123456789abcdef01234567",
        };
        await fixture.Send(new RunSucceeded { RunId = id, Attempt = 1, LeaseId = lease.LeaseId, Output = "done", Artifacts = artifacts });

        var run = await fixture.WaitFor(id, m => m.Succeeded);
        var stored = JsonSerializer.Deserialize<RunArtifacts>(run.ArtifactsJson!, JsonSerializerOptions.Web)!;
        Assert.Equal(artifacts.FilesChanged, stored.FilesChanged);
        Assert.Equal(artifacts.Commands, stored.Commands);
        Assert.Equal(artifacts with { FilesChanged = stored.FilesChanged, Commands = stored.Commands }, stored);
    }

    [Fact]
    public async Task A_failed_attempts_artifacts_are_kept_with_its_error()
    {
        await using var fixture = await SagaFixture.StartAsync();
        var id = NewId.NextGuid();
        await fixture.Send(new SubmitRun { RunId = id, Agent = "strict", Input = "work" });
        await fixture.WaitFor(id, m => m.Queued);
        var lease = await fixture.Claim(id, 1);
        await fixture.WaitFor(id, m => m.Running);

        await fixture.Send(new RunFailed
        {
            RunId = id,
            Attempt = 1,
            LeaseId = lease.LeaseId,
            Error = "exit code 1",
            Kind = "exit-code",
            Retryable = true,
            Artifacts = new RunArtifacts { FilesChanged = ["half-done.txt"], HandOff = "stopped halfway" },
        });

        var run = await fixture.WaitFor(id, m => m.Failed);
        Assert.Contains("half-done.txt", run.ArtifactsJson, StringComparison.Ordinal);
        Assert.Contains("stopped halfway", run.ArtifactsJson, StringComparison.Ordinal);
    }
}
