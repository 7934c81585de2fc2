using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Workers.Contracts;
using Workers.Integration.Tests.Fleet;
using Workers.Integration.Tests.Workspaces;
using Workers.Orchestrator.Api;

namespace Workers.Integration.Tests;

/// <summary>Run workspaces through the deployed fleet: a repository cloned for the run, its artifacts on the run row.</summary>
public sealed class Workspaces_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static async Task<HttpResponseMessage> SubmitAsync(DistributedFleet fleet, string agent, WorkspaceSpec workspace) =>
        await fleet.Api.PostAsJsonAsync("api/runs", new SubmitRunRequest { Agent = agent, Input = "tidy up", Workspace = workspace },
            JsonSerializerOptions.Web, Ct);

    static async Task<Guid> AcceptedAsync(DistributedFleet fleet, WorkspaceSpec workspace)
    {
        using var response = await SubmitAsync(fleet, "edit", workspace);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<RunAccepted>(JsonSerializerOptions.Web, Ct))!.RunId;
    }

    [Fact]
    public async Task Workspace_cloned_from_a_local_bare_repo_with_a_diff_recorded()
    {
        using var repository = await BareRepository.CreateAsync(Ct);
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct);
        await fleet.AddWorkerAsync(slots: 2, Ct);

        var id = await AcceptedAsync(fleet, new WorkspaceSpec { Repository = repository.Url.AbsoluteUri, Ref = "v1" });
        var unknownRef = await AcceptedAsync(fleet, new WorkspaceSpec { Repository = repository.Url.AbsoluteUri, Ref = "no-such-ref" });
        await fleet.WaitForTerminalAsync([id, unknownRef], TimeSpan.FromSeconds(90), Ct);

        var run = (await fleet.Api.GetFromJsonAsync<RunView>($"api/runs/{id}", JsonSerializerOptions.Web, Ct))!;
        Assert.True(run.State == "Succeeded", $"{run.State}: {run.Error}");
        var artifacts = Assert.IsType<RunArtifacts>(run.Artifacts);
        Assert.Equal(["NOTES.md", "README.md"], artifacts.FilesChanged);
        Assert.EndsWith("2 files changed, 2 insertions(+)", artifacts.DiffSummary, StringComparison.Ordinal);
        Assert.Equal(["echo edited >> README.md", "echo notes > NOTES.md"], artifacts.Commands);
        Assert.Equal("Edited README.md and wrote NOTES.md", artifacts.HandOff);
        Assert.Equal(repository.FirstCommit, artifacts.BaseCommit);

        // Workers:Worker:KeepWorkspaces is off: the clone is deleted once its artifacts are recorded (the emptied directory
        // waits for the worker's next attempt).
        var workspace = (await File.ReadAllTextAsync(Path.Combine(fleet.AgentsDirectory, $"workspace-{id}.txt"), Ct)).Trim();
        Assert.StartsWith(Path.Combine(fleet.AgentsDirectory, "workspaces"), workspace, StringComparison.Ordinal);
        Assert.False(Directory.Exists(workspace) && Directory.EnumerateFileSystemEntries(workspace).Any(), $"workspace {workspace} still holds the clone");

        // An unknown ref fails at once, not retried, with a reason that names the repository and the ref.
        var failed = (await fleet.Api.GetFromJsonAsync<RunView>($"api/runs/{unknownRef}", JsonSerializerOptions.Web, Ct))!;
        Assert.Equal("Failed", failed.State);
        Assert.Equal(1, failed.Attempt);
        Assert.Equal($"attempt 1 failed: cloning repository {repository.Url.AbsoluteUri} at ref 'no-such-ref' failed: " +
            "the repository has no branch, tag or commit 'no-such-ref' (not retryable)", failed.Error);
        Assert.False(File.Exists(Path.Combine(fleet.AgentsDirectory, $"workspace-{unknownRef}.txt")), "the agent ran without its workspace");
    }

    [Fact]
    public async Task A_local_path_as_repository_is_refused_by_the_api_with_advice()
    {
        await using var fleet = await DistributedFleet.StartAsync(agentSeconds: 0, Ct);

        using var response = await SubmitAsync(fleet, "edit", new WorkspaceSpec { Repository = "/srv/git/app.git" });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(JsonSerializerOptions.Web, Ct);
        Assert.StartsWith("workspace.repository '/srv/git/app.git' is a local path, not a URL; write it as file:///absolute/path",
            problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }
}
