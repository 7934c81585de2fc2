using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Workers.Agents.Runtimes;
using Workers.Contracts;
using Workers.Worker;
using Workers.Worker.Workspaces;

namespace Workers.Integration.Tests.Workspaces;

/// <summary>Workspaces against a real git repository: clone at a branch, tag or commit, failures, and the artifacts of a run.</summary>
public sealed class Workspace_Specs : IAsyncLifetime
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    BareRepository _repository = null!;

    public async ValueTask InitializeAsync() => _repository = await BareRepository.CreateAsync(Ct);

    public ValueTask DisposeAsync()
    {
        _repository.Dispose();
        return ValueTask.CompletedTask;
    }

    Task<PreparedWorkspace> CloneAsync(string? reference, string? repository = null) =>
        WorkspacePreparer.PrepareAsync(_repository.NewWorkspace(),
            new WorkspaceSpec { Repository = repository ?? _repository.Url.AbsoluteUri, Ref = reference }, Timeout, Ct);

    static Task<string> Head(PreparedWorkspace workspace) => BareRepository.RunAsync(workspace.Directory, Ct, "rev-parse", "HEAD");

    [Fact]
    public async Task Without_a_ref_the_default_branch_is_cloned_and_its_head_is_the_base_commit()
    {
        var workspace = await CloneAsync(null);

        Assert.Equal(_repository.MainCommit, workspace.BaseCommit);
        Assert.Equal("# App\n\nversion one\nversion two\n", await File.ReadAllTextAsync(Path.Combine(workspace.Directory, "README.md"), Ct));
        Assert.False(File.Exists(Path.Combine(workspace.Directory, "feature.txt")));
    }

    [Fact]
    public async Task A_branch_is_checked_out_as_a_local_branch_of_that_name()
    {
        var workspace = await CloneAsync("feature");

        Assert.Equal(_repository.FeatureCommit, workspace.BaseCommit);
        Assert.True(File.Exists(Path.Combine(workspace.Directory, "feature.txt")));
        Assert.Equal("feature", (await BareRepository.RunAsync(workspace.Directory, Ct, "rev-parse", "--abbrev-ref", "HEAD")).Trim());
    }

    [Fact]
    public async Task A_tag_is_checked_out_at_its_commit()
    {
        var workspace = await CloneAsync("v1");

        Assert.Equal(_repository.FirstCommit, workspace.BaseCommit);
        Assert.Equal(_repository.FirstCommit, (await Head(workspace)).Trim());
        Assert.Equal("# App\n\nversion one\n", await File.ReadAllTextAsync(Path.Combine(workspace.Directory, "README.md"), Ct));
    }

    [Theory]
    [InlineData(40)]
    [InlineData(10)]
    public async Task A_commit_sha_full_or_abbreviated_is_checked_out(int length)
    {
        var workspace = await CloneAsync(_repository.FirstCommit[..length]);

        Assert.Equal(_repository.FirstCommit, workspace.BaseCommit);
        Assert.Equal(_repository.FirstCommit, (await Head(workspace)).Trim());
    }

    [Fact]
    public async Task A_ref_outside_branches_and_tags_is_fetched_on_request()
    {
        await BareRepository.RunAsync(_repository.BarePath, Ct, "update-ref", "refs/pull/7/head", _repository.FeatureCommit);

        var workspace = await CloneAsync("refs/pull/7/head");

        Assert.Equal(_repository.FeatureCommit, workspace.BaseCommit);
        Assert.True(File.Exists(Path.Combine(workspace.Directory, "feature.txt")));
    }

    [Fact]
    public async Task An_unknown_ref_fails_for_good_naming_the_repository_and_the_ref()
    {
        var failure = await Assert.ThrowsAsync<WorkspaceException>(() => CloneAsync("no-such-branch"));

        Assert.Equal(WorkspaceException.RefNotFoundKind, failure.Kind);
        Assert.False(failure.Retryable);
        Assert.Equal($"cloning repository {_repository.Url.AbsoluteUri} at ref 'no-such-branch' failed: the repository has no branch, tag or commit 'no-such-branch'",
            failure.Message);
    }

    [Fact]
    public async Task A_missing_repository_fails_for_good_with_gits_own_words()
    {
        var missing = new Uri(_repository.BarePath + "-missing").AbsoluteUri;

        var failure = await Assert.ThrowsAsync<WorkspaceException>(() => CloneAsync("main", missing));

        Assert.Equal(WorkspaceException.RepositoryNotFoundKind, failure.Kind);
        Assert.False(failure.Retryable);
        Assert.StartsWith($"cloning repository {missing} at ref 'main' failed: git exited with code 128: ", failure.Message, StringComparison.Ordinal);
        Assert.Contains("does not appear to be a git repository", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Artifacts_list_modified_deleted_and_new_untracked_files_with_a_diff_stat()
    {
        var workspace = await CloneAsync(null);
        var recorder = new CommandRecorder(new CountingSink());
        await File.AppendAllTextAsync(Path.Combine(workspace.Directory, "README.md"), "version three\n", Ct);
        File.Delete(Path.Combine(workspace.Directory, "obsolete.txt"));
        Directory.CreateDirectory(Path.Combine(workspace.Directory, "src"));
        await File.WriteAllTextAsync(Path.Combine(workspace.Directory, "src", "new.txt"), "one\ntwo\n", Ct);

        var artifacts = await ArtifactCollector.CollectAsync(workspace, recorder, new AgentOutcome.Succeeded("Edited the README."), Timeout, Ct);

        Assert.Equal(["README.md", "obsolete.txt", "src/new.txt"], artifacts.FilesChanged);
        Assert.Equal(_repository.MainCommit, artifacts.BaseCommit);
        Assert.Contains("README.md", artifacts.DiffSummary, StringComparison.Ordinal);
        Assert.Contains("src/new.txt", artifacts.DiffSummary, StringComparison.Ordinal);
        Assert.EndsWith("3 files changed, 3 insertions(+), 1 deletion(-)", artifacts.DiffSummary, StringComparison.Ordinal);
        Assert.Equal("Edited the README.", artifacts.HandOff);
    }

    [Fact]
    public async Task Commits_the_agent_made_count_as_changes_against_the_base()
    {
        var workspace = await CloneAsync("v1");
        await File.WriteAllTextAsync(Path.Combine(workspace.Directory, "committed.txt"), "done\n", Ct);
        await BareRepository.RunAsync(workspace.Directory, Ct, "add", "committed.txt");
        await BareRepository.RunAsync(workspace.Directory, Ct, "-c", "user.name=Agent", "-c", "user.email=agent@example.com", "commit", "--quiet", "-m", "agent");

        var artifacts = await ArtifactCollector.CollectAsync(workspace, new CommandRecorder(new CountingSink()), new AgentOutcome.Succeeded(""), Timeout, Ct);

        Assert.Equal(["committed.txt"], artifacts.FilesChanged);
        Assert.EndsWith("1 file changed, 1 insertion(+)", artifacts.DiffSummary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_untouched_clone_records_no_changes()
    {
        var workspace = await CloneAsync(null);

        var artifacts = await ArtifactCollector.CollectAsync(workspace, new CommandRecorder(new CountingSink()), new AgentOutcome.Cancelled(), Timeout, Ct);

        Assert.Empty(artifacts.FilesChanged);
        Assert.Null(artifacts.DiffSummary);
        Assert.Null(artifacts.HandOff);
    }

    [Fact]
    public async Task Without_a_repository_changes_are_found_by_comparing_file_snapshots()
    {
        var directory = _repository.NewWorkspace();
        Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, "keep.txt"), "same\n", Ct);
        await File.WriteAllTextAsync(Path.Combine(directory, "edit.txt"), "before\n", Ct);
        await File.WriteAllTextAsync(Path.Combine(directory, "gone.txt"), "bye\n", Ct);
        var workspace = await WorkspacePreparer.PrepareAsync(directory, null, Timeout, Ct);
        Assert.Null(workspace.BaseCommit);

        await File.WriteAllTextAsync(Path.Combine(directory, "edit.txt"), "after, and longer\n", Ct);
        File.Delete(Path.Combine(directory, "gone.txt"));
        Directory.CreateDirectory(Path.Combine(directory, "out"));
        await File.WriteAllTextAsync(Path.Combine(directory, "out", "report.md"), "# Report\n", Ct);
        var recorder = new CommandRecorder(new CountingSink());
        recorder.Emit(new AgentEvent.Message("All done: see out/report.md"));

        var artifacts = await ArtifactCollector.CollectAsync(workspace, recorder, new AgentOutcome.Succeeded(""), Timeout, Ct);

        Assert.Equal(["edit.txt", "gone.txt", "out/report.md"], artifacts.FilesChanged);
        Assert.Equal("3 files changed: 1 added, 1 modified, 1 deleted", artifacts.DiffSummary);
        Assert.Null(artifacts.BaseCommit);
        Assert.Equal("All done: see out/report.md", artifacts.HandOff);
    }

    [Fact]
    public async Task The_list_of_files_changed_is_capped_and_says_how_many_were_left_out()
    {
        var workspace = await WorkspacePreparer.PrepareAsync(_repository.NewWorkspace(), null, Timeout, Ct);
        for (var i = 0; i < RunArtifacts.MaxFilesChanged + 10; i++)
            await File.WriteAllTextAsync(Path.Combine(workspace.Directory, $"file-{i:D4}.txt"), "x", Ct);

        var artifacts = await ArtifactCollector.CollectAsync(workspace, new CommandRecorder(new CountingSink()), new AgentOutcome.Succeeded(""), Timeout, Ct);

        Assert.Equal(RunArtifacts.MaxFilesChanged, artifacts.FilesChanged.Count);
        Assert.Equal("file-0498.txt", artifacts.FilesChanged[^2]);
        Assert.Equal("… and 11 more", artifacts.FilesChanged[^1]);
        Assert.Equal("510 files changed: 510 added, 0 modified, 0 deleted", artifacts.DiffSummary);
    }

    [Fact]
    public async Task Commands_are_collected_from_the_shell_tools_of_every_runtime_and_every_event_is_forwarded()
    {
        var inner = new CountingSink();
        var recorder = new CommandRecorder(inner);
        AgentEvent[] events =
        [
            new AgentEvent.ToolStarted("Bash", """{"command":"npm test","description":"Run the tests"}""", "1"),
            new AgentEvent.ToolCompleted("Bash", "ok", CallId: "1"),
            new AgentEvent.ToolStarted("Read", """{"file_path":"README.md"}""", "2"),
            new AgentEvent.ToolStarted("command", "bash -lc 'git status'", "3"),
            new AgentEvent.ToolStarted("run_shell_command", """{"command":"ls -la"}""", "4"),
            new AgentEvent.ToolStarted("shellToolCall", """{"command":"make build","workingDirectory":""}""", "5"),
            new AgentEvent.ToolStarted("shell", """{"command":["python3","-m","pytest"]}""", "6"),
            new AgentEvent.Usage(Steps: 1),
        ];

        foreach (var agentEvent in events)
            recorder.Emit(agentEvent);

        Assert.Equal(["npm test", "bash -lc 'git status'", "ls -la", "make build", "python3 -m pytest"], recorder.Commands);
        Assert.Equal(events, inner.Events);
    }

    [Fact]
    public void The_command_list_is_capped_and_says_how_many_were_left_out()
    {
        var recorder = new CommandRecorder(new CountingSink());

        for (var i = 0; i < RunArtifacts.MaxCommands + 5; i++)
            recorder.Emit(new AgentEvent.ToolStarted("Bash", new string('x', RunArtifacts.MaxCommandLength + 10)));

        Assert.Equal(RunArtifacts.MaxCommands + 1, recorder.Commands.Count);
        Assert.Equal("… and 5 more", recorder.Commands[^1]);
        Assert.Equal(RunArtifacts.MaxCommandLength + 1, recorder.Commands[0].Length);
    }

    [Fact]
    public async Task A_run_workspace_is_emptied_after_its_artifacts_are_recorded_and_a_failed_clone_becomes_the_outcome()
    {
        var root = Path.GetDirectoryName(_repository.NewWorkspace())!;
        using var workspaces = new RunWorkspaces(Options.Create(new WorkerOptions { WorkspaceRoot = root }), NullLogger<RunWorkspaces>.Instance);
        var spec = new AgentSpec { Name = "fixer", Runtime = "process", Workspace = new WorkspaceSpec { Repository = _repository.Url.AbsoluteUri } };
        var dispatch = new ExecuteRun { RunId = Guid.NewGuid(), Attempt = 1, Input = "fix it", Agent = spec };

        RunArtifacts? artifacts;
        string directory;
        await using (var workspace = await workspaces.OpenAsync(dispatch, Ct))
        {
            directory = workspace.Directory;
            Assert.Null(workspace.EarlyOutcome);
            workspace.Record(new CountingSink()).Emit(new AgentEvent.ToolStarted("Bash", """{"command":"touch made.txt"}"""));
            await File.WriteAllTextAsync(Path.Combine(directory, "made.txt"), "", Ct);
            artifacts = await workspace.CollectAsync(new AgentOutcome.Succeeded("made it"));
        }

        Assert.Empty(Directory.EnumerateFileSystemEntries(directory));
        Assert.NotNull(artifacts);
        Assert.Equal(["made.txt"], artifacts.FilesChanged);
        Assert.Equal(["touch made.txt"], artifacts.Commands);

        var broken = dispatch with { Agent = spec with { Workspace = new WorkspaceSpec { Repository = _repository.Url.AbsoluteUri, Ref = "v9" } } };
        await using var failed = await workspaces.OpenAsync(broken, Ct);
        var outcome = Assert.IsType<AgentOutcome.Failed>(failed.EarlyOutcome);
        Assert.Equal(WorkspaceException.RefNotFoundKind, outcome.Kind);
        Assert.False(outcome.Retryable);
        Assert.Null(await failed.CollectAsync(outcome));
    }

    [Fact]
    public async Task The_next_attempt_gets_the_emptied_directory_and_nothing_of_the_last_one()
    {
        var root = Path.GetDirectoryName(_repository.NewWorkspace())!;
        var workspaces = new RunWorkspaces(Options.Create(new WorkerOptions { WorkspaceRoot = root }), NullLogger<RunWorkspaces>.Instance);
        var dispatch = new ExecuteRun { RunId = Guid.NewGuid(), Attempt = 1, Input = "make things", Agent = new AgentSpec { Name = "a", Runtime = "process" } };

        string first;
        await using (var workspace = await workspaces.OpenAsync(dispatch, Ct))
        {
            first = workspace.Directory;
            Directory.CreateDirectory(Path.Combine(first, "build", "out"));
            await File.WriteAllTextAsync(Path.Combine(first, "build", "out", "a.bin"), "x", Ct);
            await File.WriteAllTextAsync(Path.Combine(first, "notes.txt"), "x", Ct);
            await workspace.CollectAsync(new AgentOutcome.Succeeded("done"));
        }
        // Something the last agent left running writes into the idle directory: the next attempt must not see it.
        await File.WriteAllTextAsync(Path.Combine(first, "late.txt"), "written after the run ended", Ct);

        RunArtifacts? artifacts;
        await using (var next = await workspaces.OpenAsync(dispatch with { RunId = Guid.NewGuid() }, Ct))
        {
            Assert.Equal(first, next.Directory);
            Assert.Empty(Directory.EnumerateFileSystemEntries(next.Directory));
            await File.WriteAllTextAsync(Path.Combine(next.Directory, "mine.txt"), "x", Ct);
            artifacts = await next.CollectAsync(new AgentOutcome.Succeeded("done"));
        }
        Assert.Equal(["mine.txt"], artifacts?.FilesChanged);

        // An agent that made its workspace read-only does not leave it so for the next attempt.
        if (!OperatingSystem.IsWindows())
        {
            var modeOfNew = File.GetUnixFileMode(first);
            await using (var readOnly = await workspaces.OpenAsync(dispatch, Ct))
                File.SetUnixFileMode(readOnly.Directory, UnixFileMode.UserRead | UnixFileMode.UserExecute);
            await using var after = await workspaces.OpenAsync(dispatch, Ct);
            Assert.Equal(first, after.Directory);
            Assert.Equal(modeOfNew, File.GetUnixFileMode(after.Directory));
            await File.WriteAllTextAsync(Path.Combine(after.Directory, "writable.txt"), "x", Ct);
        }

        // Two attempts at once get two directories; on shutdown the idle ones are deleted.
        await using (var a = await workspaces.OpenAsync(dispatch, Ct))
        await using (var b = await workspaces.OpenAsync(dispatch, Ct))
            Assert.NotEqual(a.Directory, b.Directory);
        workspaces.Dispose();
        Assert.False(Directory.Exists(first));
        Assert.False(Directory.Exists(Path.GetDirectoryName(first)));
    }

    [Fact]
    public async Task A_workspace_the_agent_replaced_with_a_link_is_unlinked_without_touching_what_it_points_to()
    {
        var root = Path.GetDirectoryName(_repository.NewWorkspace())!;
        using var workspaces = new RunWorkspaces(Options.Create(new WorkerOptions { WorkspaceRoot = root }), NullLogger<RunWorkspaces>.Instance);
        var precious = Directory.CreateDirectory(Path.Combine(root, "precious")).FullName;
        await File.WriteAllTextAsync(Path.Combine(precious, "keep.txt"), "not the agent's", Ct);
        var dispatch = new ExecuteRun { RunId = Guid.NewGuid(), Attempt = 1, Input = "misbehave", Agent = new AgentSpec { Name = "a", Runtime = "process" } };

        string replaced;
        await using (var workspace = await workspaces.OpenAsync(dispatch, Ct))
        {
            replaced = workspace.Directory;
            // Inside the workspace, a link to a directory outside it; then the workspace itself swapped for such a link.
            Directory.CreateSymbolicLink(Path.Combine(replaced, "outside"), precious);
            await workspace.CollectAsync(new AgentOutcome.Succeeded("done"));
            Assert.True(File.Exists(Path.Combine(precious, "keep.txt")));
        }
        await using (var again = await workspaces.OpenAsync(dispatch, Ct))
        {
            Assert.Equal(replaced, again.Directory);
            Directory.Delete(replaced);
            Directory.CreateSymbolicLink(replaced, precious);
        }

        Assert.False(Path.Exists(replaced));
        Assert.Equal(["keep.txt"], Directory.EnumerateFileSystemEntries(precious).Select(Path.GetFileName));
        await using var fresh = await workspaces.OpenAsync(dispatch, Ct);
        Assert.Null(new DirectoryInfo(fresh.Directory).LinkTarget);
        Assert.Empty(Directory.EnumerateFileSystemEntries(fresh.Directory));
    }

    [Fact]
    public async Task With_KeepWorkspaces_the_directory_stays_with_every_change_staged()
    {
        var root = Path.GetDirectoryName(_repository.NewWorkspace())!;
        using var workspaces = new RunWorkspaces(Options.Create(new WorkerOptions { WorkspaceRoot = root, KeepWorkspaces = true }), NullLogger<RunWorkspaces>.Instance);
        var spec = new AgentSpec { Name = "fixer", Runtime = "process", Workspace = new WorkspaceSpec { Repository = _repository.Url.AbsoluteUri, Ref = "feature" } };

        string directory;
        await using (var workspace = await workspaces.OpenAsync(new ExecuteRun { RunId = Guid.NewGuid(), Attempt = 2, Agent = spec }, Ct))
        {
            directory = workspace.Directory;
            await File.WriteAllTextAsync(Path.Combine(directory, "kept.txt"), "look at me\n", Ct);
            await workspace.CollectAsync(new AgentOutcome.Failed("boom", "exit-code", Retryable: true));
        }

        Assert.True(File.Exists(Path.Combine(directory, "kept.txt")));
        Assert.Equal("A  kept.txt", (await BareRepository.RunAsync(directory, Ct, "status", "--short")).Trim());
    }

    [Fact]
    public async Task A_workspace_root_that_cannot_hold_directories_fails_the_attempt_retryably()
    {
        var root = Path.Combine(Path.GetDirectoryName(_repository.NewWorkspace())!, "not-a-directory");
        Directory.CreateDirectory(Path.GetDirectoryName(root)!);
        await File.WriteAllTextAsync(root, "a file where the root should be", Ct);
        using var workspaces = new RunWorkspaces(Options.Create(new WorkerOptions { WorkspaceRoot = root }), NullLogger<RunWorkspaces>.Instance);

        await using var workspace = await workspaces.OpenAsync(new ExecuteRun { RunId = Guid.NewGuid(), Attempt = 1, Agent = new AgentSpec { Name = "a" } }, Ct);

        var outcome = Assert.IsType<AgentOutcome.Failed>(workspace.EarlyOutcome);
        Assert.Equal(RunWorkspaces.WorkspaceKind, outcome.Kind);
        Assert.True(outcome.Retryable);
        Assert.StartsWith($"the workspace {root}/", outcome.Error, StringComparison.Ordinal);
    }

    sealed class CountingSink : IAgentEventSink
    {
        readonly List<AgentEvent> _events = [];

        public IReadOnlyList<AgentEvent> Events => _events;

        public void Emit(AgentEvent agentEvent) => _events.Add(agentEvent);
    }
}
