namespace Workers.Worker.Workspaces;

/// <summary>
/// The files of a workspace without a repository, by relative path, with size and last write time: compared before and
/// after the run, it says which files were added, modified and deleted. <c>.git</c> directories are left out, and the
/// walk stops at <see cref="MaxFiles"/> files so a huge tree cannot stall the worker.
/// </summary>
public sealed class FileSnapshot
{
    /// <summary>Files recorded at most; beyond it the snapshot is marked incomplete.</summary>
    public const int MaxFiles = 100_000;

    readonly Dictionary<string, (long Size, DateTime WrittenAt)> _files;

    FileSnapshot(Dictionary<string, (long, DateTime)> files, bool complete)
    {
        _files = files;
        Complete = complete;
    }

    /// <summary>False when the walk stopped at <see cref="MaxFiles"/>.</summary>
    public bool Complete { get; }

    public int Count => _files.Count;

    public static FileSnapshot Take(string directory)
    {
        var files = new Dictionary<string, (long, DateTime)>(StringComparer.Ordinal);
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            IgnoreInaccessible = true,
            AttributesToSkip = 0,
            ReturnSpecialDirectories = false,
        };
        var complete = true;
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles("*", options))
        {
            var path = Path.GetRelativePath(directory, file.FullName).Replace('\\', '/');
            if (path == ".git" || path.StartsWith(".git/", StringComparison.Ordinal) || path.Contains("/.git/", StringComparison.Ordinal))
                continue;
            if (files.Count == MaxFiles)
            {
                complete = false;
                break;
            }
            try
            {
                files[path] = (file.Length, file.LastWriteTimeUtc);
            }
            catch (FileNotFoundException)
            {
                // Deleted while we looked.
            }
        }
        return new FileSnapshot(files, complete);
    }

    /// <summary>Paths added, modified (size or write time changed) and deleted since <paramref name="before"/>, each sorted.</summary>
    public SnapshotChanges Since(FileSnapshot before)
    {
        ArgumentNullException.ThrowIfNull(before);
        var added = _files.Keys.Where(p => !before._files.ContainsKey(p)).Order(StringComparer.Ordinal).ToList();
        var deleted = before._files.Keys.Where(p => !_files.ContainsKey(p)).Order(StringComparer.Ordinal).ToList();
        var modified = _files.Where(f => before._files.TryGetValue(f.Key, out var old) && old != f.Value)
            .Select(f => f.Key).Order(StringComparer.Ordinal).ToList();
        return new SnapshotChanges(added, modified, deleted, Complete && before.Complete);
    }
}

/// <summary>What changed between two snapshots.</summary>
public sealed record SnapshotChanges(IReadOnlyList<string> Added, IReadOnlyList<string> Modified, IReadOnlyList<string> Deleted, bool Complete);
