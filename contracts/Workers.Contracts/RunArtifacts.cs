namespace Workers.Contracts;

/// <summary>
/// What an attempt left behind in its workspace, recorded by the worker after the agent ends (whatever the outcome).
/// Bounded so a run that rewrites a whole tree still fits in a message and a row: at most
/// <see cref="MaxFilesChanged"/> paths of at most <see cref="MaxPathLength"/> characters, <see cref="MaxCommands"/> commands of at most <see cref="MaxCommandLength"/>
/// characters each, and at most <see cref="MaxTextLength"/> characters of diff summary and of hand-off.
/// </summary>
public sealed record RunArtifacts
{
    /// <summary>Cap on <see cref="FilesChanged"/>; a longer list is cut and ends with a <c>… and N more</c> entry.</summary>
    public const int MaxFilesChanged = 500;

    /// <summary>Cap on the length of one entry of <see cref="FilesChanged"/>; a longer path is cut and ends with <c>…</c>.</summary>
    public const int MaxPathLength = 1_000;

    /// <summary>Cap on <see cref="Commands"/>; later commands are counted in a last <c>… and N more</c> entry.</summary>
    public const int MaxCommands = 200;

    /// <summary>Cap on the length of one entry of <see cref="Commands"/>.</summary>
    public const int MaxCommandLength = 1_000;

    /// <summary>Cap on the length of <see cref="DiffSummary"/> and of <see cref="HandOff"/>.</summary>
    public const int MaxTextLength = 16_000;

    /// <summary>Workspace-relative paths (forward slashes) that were added, modified or deleted, sorted.</summary>
    public IReadOnlyList<string> FilesChanged { get; init; } = [];

    /// <summary>
    /// A <c>git diff --stat</c> style summary against the base commit (new untracked files included); for a workspace
    /// without a repository, a count of files added, modified and deleted. Null when nothing changed.
    /// </summary>
    public string? DiffSummary { get; init; }

    /// <summary>Shell commands the agent ran, in order, as its shell tools reported them.</summary>
    public IReadOnlyList<string> Commands { get; init; } = [];

    /// <summary>The agent's final output (or its last message), for whoever picks the work up next.</summary>
    public string? HandOff { get; init; }

    /// <summary>The commit the workspace was cloned at; null without a repository.</summary>
    public string? BaseCommit { get; init; }
}
