namespace Workers.Agents.Runtimes;

/// <summary>
/// Finds the executable a process agent names, so a missing or non-executable command fails with a message naming
/// it rather than with the operating system's bare "No such file or directory".
/// </summary>
internal static class CommandResolver
{
    /// <summary>
    /// A command with a directory separator is a path, relative ones resolving against <paramref name="baseDirectory"/>
    /// (the definitions file's directory) or else the current directory; a bare name is looked up on <paramref name="searchPath"/>.
    /// </summary>
    public static bool TryResolve(string command, string? baseDirectory, string? searchPath, out string path, out string problem)
    {
        problem = "";
        if (IsPath(command))
        {
            path = Path.GetFullPath(Path.IsPathRooted(command) ? command : Path.Combine(baseDirectory ?? Environment.CurrentDirectory, command));
            if (Directory.Exists(path))
            {
                problem = $"command '{command}' ({path}) is a directory, not an executable";
            }
            else if (!File.Exists(path))
            {
                problem = path == command
                    ? $"command '{command}' was not found"
                    : $"command '{command}' was not found (looked for {path})";
            }
            else if (!IsExecutable(path))
            {
                problem = $"command '{command}' ({path}) is not executable; make it so with: chmod +x {path}";
            }

            return problem.Length == 0;
        }

        if (OperatingSystem.IsWindows())
        {
            // PATHEXT lookup is the operating system's business on Windows; Process.Start reports a missing command.
            path = command;
            return true;
        }

        foreach (var directory in (searchPath ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, command);
            if (File.Exists(candidate) && IsExecutable(candidate))
            {
                path = candidate;
                return true;
            }
        }

        path = command;
        problem = $"command '{command}' was not found on PATH ({searchPath})";
        return false;
    }

    private static bool IsPath(string command) =>
        command.Contains('/', StringComparison.Ordinal) || (OperatingSystem.IsWindows() && command.Contains('\\', StringComparison.Ordinal));

    private static bool IsExecutable(string path) =>
        OperatingSystem.IsWindows()
        || (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
}
