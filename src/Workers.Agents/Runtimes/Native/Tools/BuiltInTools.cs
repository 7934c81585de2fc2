using System.Globalization;
using System.Text;
using System.Text.Json;

using Workers.Agents.Runtimes.Native.Providers;

namespace Workers.Agents.Runtimes.Native.Tools;

/// <summary>
/// The built-in tools, each confined to the workspace by <see cref="WorkspaceSandbox"/>. Reading, listing and searching are
/// idempotent; writing, editing and running a command are not (see docs/native-runtime.md on what a resume does with them).
/// </summary>
internal static class BuiltInTools
{
    public const string ReadFile = "read_file";
    public const string WriteFile = "write_file";
    public const string EditFile = "edit_file";
    public const string ListDirectory = "list_directory";
    public const string SearchText = "search_text";
    public const string RunCommand = "run_command";

    /// <summary>Every built-in tool, in the order they are offered.</summary>
    public static IReadOnlyList<string> Names { get; } = [ReadFile, WriteFile, EditFile, ListDirectory, SearchText, RunCommand];

    private const int MaxSearchMatches = 200;
    private const int MaxListEntries = 1000;
    private const long MaxSearchedFileLength = 4 * 1024 * 1024;

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>The tools named in <paramref name="names"/>, working in <paramref name="sandbox"/>.</summary>
    public static IEnumerable<IAgentTool> Create(IEnumerable<string> names, WorkspaceSandbox sandbox, NativeRuntimeOptions options) =>
        names.Distinct(StringComparer.Ordinal).Select<string, IAgentTool>(name => name switch
        {
            ReadFile => Tool(
                ReadFile,
                "Reads a text file of the workspace. Optional 'offset' (first line, 1-based) and 'limit' (number of lines).",
                ToolArguments.Schema([("path", "string", "file path relative to the workspace"), ("offset", "integer", "first line, 1-based"), ("limit", "integer", "lines to read")], "path"),
                (args, ct) => Read(sandbox, args, ct)),
            WriteFile => Tool(
                WriteFile,
                "Writes a text file in the workspace, replacing it if it exists; creates missing directories.",
                ToolArguments.Schema([("path", "string", "file path relative to the workspace"), ("content", "string", "the whole new content")], "path", "content"),
                (args, ct) => Write(sandbox, args, ct)),
            EditFile => Tool(
                EditFile,
                "Replaces one exact occurrence of 'old_text' with 'new_text' in a workspace file; fails if the text occurs zero or several times.",
                ToolArguments.Schema([("path", "string", "file path relative to the workspace"), ("old_text", "string", "the exact text to replace"), ("new_text", "string", "its replacement")], "path", "old_text", "new_text"),
                (args, ct) => Edit(sandbox, args, ct)),
            ListDirectory => Tool(
                ListDirectory,
                "Lists a workspace directory: one entry a line, directories end with '/'.",
                ToolArguments.Schema([("path", "string", "directory relative to the workspace; default '.'")]),
                (args, _) => Task.FromResult(List(sandbox, args))),
            SearchText => Tool(
                SearchText,
                "Searches the workspace's text files for an exact text (case-sensitive); prints 'path:line: text' for each match.",
                ToolArguments.Schema([("text", "string", "the text to find"), ("path", "string", "directory or file to search; default '.'")], "text"),
                (args, ct) => Search(sandbox, args, ct)),
            RunCommand => new ShellTool(sandbox, options.CommandTimeout, options.MaxToolOutputLength),
            _ => throw new ArgumentException($"unknown built-in tool '{name}'", nameof(names)),
        });

    private static DelegateTool Tool(string name, string description, JsonElement schema, Func<JsonElement, CancellationToken, Task<string>> run) =>
        new(new ToolDefinition(name, description, schema), run);

    private static async Task<string> Read(WorkspaceSandbox sandbox, JsonElement args, CancellationToken ct)
    {
        var path = ExistingFile(sandbox, ToolArguments.RequiredString(args, "path"));
        var offset = Math.Max(ToolArguments.OptionalInt(args, "offset") ?? 1, 1);
        var limit = ToolArguments.OptionalInt(args, "limit");
        var text = await File.ReadAllTextAsync(path, Utf8, ct).ConfigureAwait(false);
        if (offset == 1 && limit is null)
        {
            return text;
        }

        var lines = text.Split('\n').Skip(offset - 1);
        return string.Join('\n', limit is { } count ? lines.Take(Math.Max(count, 0)) : lines);
    }

    private static async Task<string> Write(WorkspaceSandbox sandbox, JsonElement args, CancellationToken ct)
    {
        var path = sandbox.Resolve(ToolArguments.RequiredString(args, "path"));
        var content = ToolArguments.OptionalString(args, "content") ?? throw new ToolException("the argument 'content' (text) is required");
        if (Directory.Exists(path))
        {
            throw new ToolException($"'{sandbox.Relative(path)}' is a directory");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllTextAsync(path, content, Utf8, ct).ConfigureAwait(false);
        return string.Create(CultureInfo.InvariantCulture, $"Wrote {Utf8.GetByteCount(content)} bytes to {sandbox.Relative(path)}.");
    }

    private static async Task<string> Edit(WorkspaceSandbox sandbox, JsonElement args, CancellationToken ct)
    {
        var path = ExistingFile(sandbox, ToolArguments.RequiredString(args, "path"));
        var oldText = ToolArguments.RequiredString(args, "old_text");
        var newText = ToolArguments.OptionalString(args, "new_text") ?? throw new ToolException("the argument 'new_text' (text) is required");
        if (oldText.Length == 0)
        {
            throw new ToolException("'old_text' must not be empty");
        }

        var text = await File.ReadAllTextAsync(path, Utf8, ct).ConfigureAwait(false);
        var first = text.IndexOf(oldText, StringComparison.Ordinal);
        if (first < 0)
        {
            throw new ToolException($"'old_text' does not occur in {sandbox.Relative(path)}");
        }

        if (text.IndexOf(oldText, first + 1, StringComparison.Ordinal) >= 0)
        {
            throw new ToolException($"'old_text' occurs more than once in {sandbox.Relative(path)}; include more context so it is unique");
        }

        await File.WriteAllTextAsync(path, string.Concat(text.AsSpan(0, first), newText, text.AsSpan(first + oldText.Length)), Utf8, ct).ConfigureAwait(false);
        return $"Edited {sandbox.Relative(path)}.";
    }

    private static string List(WorkspaceSandbox sandbox, JsonElement args)
    {
        var path = sandbox.Resolve(ToolArguments.OptionalString(args, "path"));
        if (!Directory.Exists(path))
        {
            throw new ToolException($"'{sandbox.Relative(path)}' is not a directory");
        }

        var entries = new DirectoryInfo(path).EnumerateFileSystemInfos()
            .Select(e => e is DirectoryInfo ? e.Name + "/" : e.Name)
            .Order(StringComparer.Ordinal)
            .Take(MaxListEntries + 1)
            .ToList();
        var text = string.Join('\n', entries.Take(MaxListEntries));
        return entries.Count > MaxListEntries ? text + $"\n[more than {MaxListEntries} entries; only the first are listed]" : text;
    }

    private static async Task<string> Search(WorkspaceSandbox sandbox, JsonElement args, CancellationToken ct)
    {
        var needle = ToolArguments.RequiredString(args, "text");
        var path = sandbox.Resolve(ToolArguments.OptionalString(args, "path"));
        IEnumerable<string> files = File.Exists(path)
            ? [path]
            : Directory.Exists(path)
                ? Directory.EnumerateFiles(path, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint })
                : throw new ToolException($"'{sandbox.Relative(path)}' does not exist");
        var matches = new StringBuilder();
        var count = 0;
        foreach (var file in files.Order(StringComparer.Ordinal))
        {
            if (new FileInfo(file).Length > MaxSearchedFileLength)
            {
                continue;
            }

            var lineNumber = 0;
            foreach (var line in await File.ReadAllLinesAsync(file, Utf8, ct).ConfigureAwait(false))
            {
                lineNumber++;
                if (!line.Contains(needle, StringComparison.Ordinal))
                {
                    continue;
                }

                if (++count > MaxSearchMatches)
                {
                    return matches.Append(CultureInfo.InvariantCulture, $"[more than {MaxSearchMatches} matches; narrow the search]").ToString();
                }

                matches.Append(CultureInfo.InvariantCulture, $"{sandbox.Relative(file)}:{lineNumber}: {line}\n");
            }
        }

        return count == 0 ? "No matches." : matches.ToString().TrimEnd('\n');
    }

    private static string ExistingFile(WorkspaceSandbox sandbox, string relative)
    {
        var path = sandbox.Resolve(relative);
        return File.Exists(path) ? path : throw new ToolException($"'{sandbox.Relative(path)}' is not a file in the workspace");
    }

    private sealed class DelegateTool(ToolDefinition definition, Func<JsonElement, CancellationToken, Task<string>> run) : IAgentTool
    {
        public ToolDefinition Definition { get; } = definition;

        public async Task<ToolOutput> InvokeAsync(JsonElement arguments, CancellationToken cancellationToken) =>
            new(await run(arguments, cancellationToken).ConfigureAwait(false));
    }
}
