namespace Workers.Agents.Runtimes.Native.Tools;

/// <summary>
/// Confines the built-in tools to the attempt's workspace: a path the model gives is taken relative to the workspace, and it is
/// refused when it leads outside: through <c>..</c>, as an absolute path elsewhere, or through a symbolic link (at any depth)
/// that points out. Every existing component is resolved, so a link planted by an earlier command cannot be used to escape.
/// </summary>
internal sealed class WorkspaceSandbox
{
    public WorkspaceSandbox(string root)
    {
        Root = RealPath(Path.GetFullPath(root));
    }

    /// <summary>The workspace directory, with its own links resolved.</summary>
    public string Root { get; }

    /// <summary>The full path of <paramref name="path"/> inside the workspace; throws <see cref="ToolException"/> when it escapes.</summary>
    public string Resolve(string? path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            path = ".";
        }

        if (path.Contains('\0', StringComparison.Ordinal))
        {
            throw new ToolException("the path contains a NUL character");
        }

        var full = Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(Root, path));
        if (!IsInside(full) || !IsInside(RealPath(full)))
        {
            throw new ToolException($"'{path}' is outside the workspace; only paths inside the workspace ({Root}) are allowed");
        }

        return full;
    }

    /// <summary>The workspace-relative form of <paramref name="fullPath"/>, for output the model reads.</summary>
    public string Relative(string fullPath) => Path.GetRelativePath(Root, fullPath);

    private bool IsInside(string full) =>
        full == Root || full.StartsWith(Root.EndsWith(Path.DirectorySeparatorChar) ? Root : Root + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>
    /// <paramref name="full"/> with every symbolic link among its existing components resolved (the part that does not exist
    /// yet is kept as written). A link loop or an unreadable link resolves to a path that is never inside.
    /// </summary>
    private static string RealPath(string full)
    {
        var root = Path.GetPathRoot(full) ?? "/";
        var current = root;
        var parts = full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < parts.Length; i++)
        {
            var next = Path.Combine(current, parts[i]);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.LinkTarget is null)
            {
                current = next;
                continue;
            }

            try
            {
                var target = info.ResolveLinkTarget(returnFinalTarget: true);
                current = target is null ? next : Path.GetFullPath(target.FullName);
            }
            catch (IOException)
            {
                return Path.Combine(Path.GetTempPath(), "\0unresolvable");
            }
        }

        return current;
    }
}

/// <summary>A tool call that failed in a way the model should hear about (bad arguments, a refused path); not a runtime error.</summary>
internal sealed class ToolException(string message) : Exception(message);
