using System.Globalization;
using Workers.Agents.Runtimes;
using Workers.Contracts;

namespace Workers.Worker.Workspaces;

/// <summary>
/// Records what an attempt left in its workspace once the agent has ended: the files changed and a diff summary (against
/// the base commit, new untracked files included; or against the snapshot taken before the run), the shell commands the
/// agent ran, and its final word as a hand-off note. Everything is cut to the limits on <see cref="RunArtifacts"/>.
/// </summary>
public static class ArtifactCollector
{
    /// <summary>
    /// Collects the artifacts. With a repository, <c>git add -A</c> stages everything in the workspace (ignored files stay
    /// out) so the diff against the base commit includes new files and commits the agent made.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public static async Task<RunArtifacts> CollectAsync(PreparedWorkspace workspace, CommandRecorder recorder, AgentOutcome outcome, TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        ArgumentNullException.ThrowIfNull(recorder);
        ArgumentNullException.ThrowIfNull(outcome);

        var (files, summary) = workspace.Spec is null
            ? FromSnapshot(workspace)
            : await FromGitAsync(workspace, timeout, cancellationToken).ConfigureAwait(false);
        return new RunArtifacts
        {
            FilesChanged = Cap(files),
            DiffSummary = summary is null ? null : Clip(summary),
            Commands = recorder.Commands,
            HandOff = HandOff(outcome, recorder.LastMessage),
            BaseCommit = workspace.BaseCommit,
        };
    }

    static (IReadOnlyList<string> Files, string? Summary) FromSnapshot(PreparedWorkspace workspace)
    {
        if (workspace.Snapshot is not { } before)
            return ([], null);
        var changes = FileSnapshot.Take(workspace.Directory).Since(before);
        var files = changes.Added.Concat(changes.Modified).Concat(changes.Deleted).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
            return (files, null);
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{Count(files.Count, "file")} changed: {changes.Added.Count} added, {changes.Modified.Count} modified, {changes.Deleted.Count} deleted");
        return (files, changes.Complete ? summary : $"{summary} (only the first {FileSnapshot.MaxFiles} files were compared)");
    }

    static async Task<(IReadOnlyList<string> Files, string? Summary)> FromGitAsync(PreparedWorkspace workspace, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var directory = workspace.Directory;
        var staged = await Git.RunAsync(directory, ["add", "--all", "--", "."], timeout, cancellationToken).ConfigureAwait(false);
        if (!staged.Succeeded)
            return ([], $"changes could not be recorded: git add exited with code {staged.ExitCode}: {staged.ErrorTail}");

        // Before the first commit of an empty repository there is no base: compare with the empty tree.
        var baseline = workspace.BaseCommit ?? await EmptyTreeAsync(directory, timeout, cancellationToken).ConfigureAwait(false);
        var names = await Git.RunAsync(directory, ["diff", "--cached", "--no-renames", "--no-ext-diff", "--name-only", "-z", baseline, "--"], timeout, cancellationToken)
            .ConfigureAwait(false);
        if (!names.Succeeded)
            return ([], $"changes could not be recorded: git diff exited with code {names.ExitCode}: {names.ErrorTail}");
        var files = names.Output.Split('\0', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
            return (files, null);

        var stat = await Git.RunAsync(directory, ["diff", "--cached", "--no-renames", "--no-ext-diff", "--no-color", "--stat=120", baseline, "--"], timeout, cancellationToken)
            .ConfigureAwait(false);
        return (files, stat.Succeeded ? stat.Output.TrimEnd() : $"{Count(files.Count, "file")} changed (git diff --stat exited with code {stat.ExitCode})");
    }

    static async Task<string> EmptyTreeAsync(string directory, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var tree = await Git.RunAsync(directory, ["hash-object", "-t", "tree", "/dev/null"], timeout, cancellationToken).ConfigureAwait(false);
        return tree.Succeeded ? tree.Output.Trim() : "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
    }

    /// <summary>The outcome's output, else the last message the agent sent; the tail is kept (the end of a report is its conclusion).</summary>
    static string? HandOff(AgentOutcome outcome, string? lastMessage)
    {
        var output = outcome switch
        {
            AgentOutcome.Succeeded s => s.Output,
            AgentOutcome.Failed f => f.Output,
            AgentOutcome.Cancelled c => c.Output,
            _ => null,
        };
        var text = string.IsNullOrWhiteSpace(output) ? lastMessage : output;
        if (string.IsNullOrWhiteSpace(text))
            return null;
        text = text.Trim();
        return text.Length <= RunArtifacts.MaxTextLength ? text : "…" + text[^(RunArtifacts.MaxTextLength - 1)..];
    }

    static List<string> Cap(IReadOnlyList<string> files)
    {
        var kept = files.Take(files.Count <= RunArtifacts.MaxFilesChanged ? files.Count : RunArtifacts.MaxFilesChanged - 1)
            .Select(f => f.Length <= RunArtifacts.MaxPathLength ? f : f[..(RunArtifacts.MaxPathLength - 1)] + "…")
            .ToList();
        if (kept.Count < files.Count)
            kept.Add($"… and {files.Count - kept.Count} more");
        return kept;
    }

    /// <summary>Keeps the head of a long stat and its last line (the totals).</summary>
    static string Clip(string summary)
    {
        if (summary.Length <= RunArtifacts.MaxTextLength)
            return summary;
        var last = summary[(summary.LastIndexOf('\n') + 1)..];
        var head = summary[..Math.Max(0, RunArtifacts.MaxTextLength - last.Length - 3)];
        return $"{head[..(head.LastIndexOf('\n') + 1)]}…\n{last}";
    }

    static string Count(int count, string noun) => string.Create(CultureInfo.InvariantCulture, $"{count} {noun}{(count == 1 ? "" : "s")}");
}
