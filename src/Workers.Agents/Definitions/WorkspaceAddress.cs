using System.Text.RegularExpressions;

namespace Workers.Agents.Definitions;

/// <summary>
/// The rules for a workspace's repository URL and ref, shared by the definitions parser and run admission so a bad
/// value is refused with the same reason wherever it is given. Each check returns null when the value is fine, else
/// what is wrong and how to write it.
/// </summary>
public static partial class WorkspaceAddress
{
    /// <summary>Longest repository URL accepted.</summary>
    public const int MaxRepositoryLength = 2_000;

    /// <summary>Longest ref accepted.</summary>
    public const int MaxRefLength = 256;

    private const string Allowed = "use https://, http://, ssh://, git@host:path or file:///absolute/path";

    /// <summary>Why <paramref name="repository"/> cannot be cloned as given, or null when it is an accepted URL.</summary>
    public static string? RepositoryProblem(string? repository)
    {
        if (string.IsNullOrWhiteSpace(repository))
        {
            return $"repository is empty; {Allowed}";
        }

        if (repository.Length > MaxRepositoryLength)
        {
            return $"repository is {repository.Length} characters; at most {MaxRepositoryLength} are allowed";
        }

        if (repository.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            return $"repository '{Clip(repository)}' contains spaces or control characters; {Allowed}";
        }

        // git would read a leading dash as an option.
        if (repository.StartsWith('-'))
        {
            return $"repository '{Clip(repository)}' starts with '-'; {Allowed}";
        }

        if (ScpLike().IsMatch(repository))
        {
            return null;
        }

        if (!repository.Contains("://", StringComparison.Ordinal))
        {
            return $"repository '{Clip(repository)}' is a local path, not a URL; write it as file:///absolute/path (or {Allowed})";
        }

        if (!Uri.TryCreate(repository, UriKind.Absolute, out var uri))
        {
            return $"repository '{Clip(repository)}' is not a valid URL; {Allowed}";
        }

        return uri.Scheme switch
        {
            "file" when string.IsNullOrEmpty(uri.Host) && uri.AbsolutePath.Length > 1 => null,
            "file" => $"repository '{Clip(repository)}' must name an absolute path on this machine, e.g. file:///srv/git/project.git",
            "https" or "http" or "ssh" when !string.IsNullOrEmpty(uri.Host) => null,
            "https" or "http" or "ssh" => $"repository '{Clip(repository)}' has no host",
            _ => $"repository '{Clip(repository)}' uses the unsupported scheme '{uri.Scheme}'; {Allowed}",
        };
    }

    /// <summary>Why <paramref name="reference"/> is not a usable branch, tag or commit name, or null when it is (or is null: the default branch).</summary>
    public static string? RefProblem(string? reference)
    {
        if (reference is null)
        {
            return null;
        }

        if (reference.Length == 0 || string.IsNullOrWhiteSpace(reference))
        {
            return "ref is empty; give a branch, tag or commit, or leave it out for the repository's default branch";
        }

        if (reference.Length > MaxRefLength)
        {
            return $"ref is {reference.Length} characters; at most {MaxRefLength} are allowed";
        }

        return RefName().IsMatch(reference) && !reference.Contains("..", StringComparison.Ordinal) && !reference.EndsWith(".lock", StringComparison.Ordinal)
            ? null
            : $"ref '{Clip(reference)}' is not a valid branch, tag or commit name (no spaces, '..', '~', '^', ':', '?', '*', '[' or '\\', and no leading '-')";
    }

    private static string Clip(string value) => value.Length <= 80 ? value : value[..80] + "…";

    /// <summary>scp-like syntax, e.g. <c>git@github.com:owner/repo.git</c>.</summary>
    [GeneratedRegex(@"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\\]+$", RegexOptions.CultureInvariant)]
    private static partial Regex ScpLike();

    [GeneratedRegex(@"^[A-Za-z0-9_.+@][A-Za-z0-9_./+@-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex RefName();
}
