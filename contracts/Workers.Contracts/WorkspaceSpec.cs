namespace Workers.Contracts;

/// <summary>
/// A git repository to clone into a run's workspace before the agent starts. Given on the agent definition or on
/// <see cref="SubmitRun.Workspace"/> (which wins), resolved by the orchestrator and carried on <see cref="AgentSpec.Workspace"/>.
/// </summary>
public sealed record WorkspaceSpec
{
    /// <summary>
    /// The repository's URL: <c>https://</c>, <c>http://</c>, <c>ssh://</c>, <c>git@host:path</c> or <c>file://</c>
    /// (a local path must be written as a <c>file://</c> URL).
    /// </summary>
    public string Repository { get; init; } = "";

    /// <summary>A branch, tag or commit to check out. Null: the remote's default branch.</summary>
    public string? Ref { get; init; }
}
