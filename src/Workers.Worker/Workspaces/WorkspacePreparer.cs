using Workers.Contracts;

namespace Workers.Worker.Workspaces;

/// <summary>A workspace ready for the agent, with what the artifacts are later measured against.</summary>
/// <param name="Directory">The agent's working directory.</param>
/// <param name="Spec">The repository cloned into it; null for an empty workspace.</param>
/// <param name="BaseCommit">The commit checked out; null without a repository.</param>
/// <param name="Snapshot">The files before the run, for a workspace without a repository.</param>
public sealed record PreparedWorkspace(string Directory, WorkspaceSpec? Spec, string? BaseCommit, FileSnapshot? Snapshot);

/// <summary>Why a workspace could not be prepared: a reason naming the repository, the ref and git's own words.</summary>
public sealed class WorkspaceException(string message, string kind, bool retryable) : Exception(message)
{
    /// <summary>Failure kinds (<c>RunFailed.Kind</c>).</summary>
    public const string RepositoryNotFoundKind = "workspace-repository-not-found";
    public const string RefNotFoundKind = "workspace-ref-not-found";
    public const string AccessDeniedKind = "workspace-access-denied";
    public const string CloneFailedKind = "workspace-clone-failed";
    public const string TimeoutKind = "workspace-clone-timeout";

    public string Kind { get; } = kind;

    /// <summary>False when another attempt would meet the same answer (no such repository or ref, no access).</summary>
    public bool Retryable { get; } = retryable;
}

/// <summary>
/// Fills a fresh workspace directory: clones the repository (branch, tag or commit) when one is given, and records what
/// the artifacts are later compared with (the base commit, or a snapshot of the files).
/// </summary>
public static class WorkspacePreparer
{
    const string Remote = "origin";

    /// <summary>Prepares <paramref name="directory"/> (created if missing; it must be empty to clone into).</summary>
    /// <exception cref="WorkspaceException">The clone or the checkout failed, or ran out of <paramref name="timeout"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public static async Task<PreparedWorkspace> PrepareAsync(string directory, WorkspaceSpec? spec, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        if (spec is null)
            return new PreparedWorkspace(directory, null, null, FileSnapshot.Take(directory));

        using var deadline = new CancellationTokenSource(timeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, cancellationToken);
        var where = spec.Ref is null ? $"repository {spec.Repository} (default branch)" : $"repository {spec.Repository} at ref '{spec.Ref}'";

        async Task<GitResult> GitAsync(params string[] arguments)
        {
            try
            {
                var result = await Git.RunAsync(directory, arguments, timeout, linked.Token).ConfigureAwait(false);
                return result.TimedOut ? throw TimedOut() : result;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw TimedOut();
            }
        }

        WorkspaceException TimedOut() => new($"cloning {where} took longer than {timeout}; the clone was stopped", WorkspaceException.TimeoutKind, retryable: true);

        // Without a ref the remote's default branch is checked out; with one, nothing is until the ref is resolved.
        // --template= keeps the machine's git templates (and any hooks in them) out of the workspace.
        var clone = await GitAsync(["clone", "--quiet", "--template=", .. spec.Ref is null ? Array.Empty<string>() : ["--no-checkout"], "--", spec.Repository, "."])
            .ConfigureAwait(false);
        if (!clone.Succeeded)
            throw CloneFailure(where, clone);

        if (spec.Ref is { } reference)
        {
            var (commit, branch) = await ResolveAsync(reference, GitAsync).ConfigureAwait(false)
                ?? throw new WorkspaceException($"cloning {where} failed: the repository has no branch, tag or commit '{reference}'",
                    WorkspaceException.RefNotFoundKind, retryable: false);
            var checkout = branch is null
                ? await GitAsync("checkout", "--quiet", "--detach", commit).ConfigureAwait(false)
                : await GitAsync("checkout", "--quiet", "-B", branch, commit).ConfigureAwait(false);
            if (!checkout.Succeeded)
                throw new WorkspaceException($"checking out {where} failed: git exited with code {checkout.ExitCode}: {checkout.ErrorTail}",
                    WorkspaceException.CloneFailedKind, retryable: true);
        }

        var head = await GitAsync("rev-parse", "--verify", "HEAD").ConfigureAwait(false);
        // An empty repository has no commit yet: the run starts from nothing and everything it makes is new.
        return new PreparedWorkspace(directory, spec, head.Succeeded ? head.Output.Trim() : null, null);
    }

    /// <summary>
    /// The commit a ref names: a branch of the remote (checked out as a local branch of that name), a tag, a commit in the
    /// clone, or, last, anything the remote serves on request (e.g. <c>refs/pull/1/head</c>). Null when nothing matches.
    /// </summary>
    static async Task<(string Commit, string? Branch)?> ResolveAsync(string reference, Func<string[], Task<GitResult>> git)
    {
        var candidates = new (string Name, bool IsBranch)[]
        {
            ($"refs/remotes/{Remote}/{reference}", true),
            ($"refs/tags/{reference}", false),
            (reference, false),
        };
        foreach (var (name, isBranch) in candidates)
        {
            // Refs were checked not to start with '-' on admission, so none reads as an option.
            var resolved = await git(["rev-parse", "--verify", "--quiet", $"{name}^{{commit}}"]).ConfigureAwait(false);
            if (resolved.Succeeded)
                return (resolved.Output.Trim(), isBranch ? reference : null);
        }

        var fetched = await git(["fetch", "--quiet", Remote, "--", reference]).ConfigureAwait(false);
        if (!fetched.Succeeded)
            return null;
        var head = await git(["rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}"]).ConfigureAwait(false);
        return head.Succeeded ? (head.Output.Trim(), null) : null;
    }

    static WorkspaceException CloneFailure(string where, GitResult result)
    {
        var error = result.ErrorTail;
        // Another worker may have git: worth another attempt, and not to be mistaken for a missing repository.
        if (result is { ExitCode: -1, TimedOut: false })
            return new WorkspaceException($"cloning {where} failed: {error}", WorkspaceException.CloneFailedKind, retryable: true);

        var (kind, retryable) = error switch
        {
            _ when Has(error, "does not appear to be a git repository") || Has(error, "repository not found") || Has(error, "not found")
                || Has(error, "does not exist") || Has(error, "no such file or directory") => (WorkspaceException.RepositoryNotFoundKind, false),
            _ when Has(error, "authentication failed") || Has(error, "permission denied") || Has(error, "could not read username")
                || Has(error, "terminal prompts disabled") || Has(error, "403") => (WorkspaceException.AccessDeniedKind, false),
            _ => (WorkspaceException.CloneFailedKind, true),
        };
        var reason = string.IsNullOrEmpty(error) ? "(git printed nothing)" : error;
        return new WorkspaceException($"cloning {where} failed: git exited with code {result.ExitCode}: {reason}", kind, retryable);
    }

    static bool Has(string text, string part) => text.Contains(part, StringComparison.OrdinalIgnoreCase);
}
