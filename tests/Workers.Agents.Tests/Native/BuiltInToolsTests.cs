using System.Text.Json;

using Workers.Agents.Runtimes.Native;
using Workers.Agents.Runtimes.Native.Tools;

namespace Workers.Agents.Tests.Native;

/// <summary>The built-in tools called directly, as the loop calls them.</summary>
public sealed class BuiltInToolsTests : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly Dictionary<string, IAgentTool> _tools;

    public BuiltInToolsTests()
    {
        Directory.CreateDirectory(_directory.Workspace);
        _tools = BuiltInTools.Create(BuiltInTools.Names, new WorkspaceSandbox(_directory.Workspace), new NativeRuntimeOptions())
            .ToDictionary(t => t.Definition.Name, StringComparer.Ordinal);
    }

    public void Dispose() => _directory.Dispose();

    private async Task<string> CallAsync(string tool, object arguments)
    {
        var output = await _tools[tool].InvokeAsync(JsonSerializer.SerializeToElement(arguments), TestContext.Current.CancellationToken);
        Assert.False(output.IsError);
        return output.Text;
    }

    private async Task<string> RefusedAsync(string tool, object arguments) =>
        (await Assert.ThrowsAsync<ToolException>(() => _tools[tool].InvokeAsync(JsonSerializer.SerializeToElement(arguments), TestContext.Current.CancellationToken))).Message;

    [Fact]
    public async Task Read_takes_an_offset_and_a_limit_in_lines()
    {
        await CallAsync("write_file", new { path = "f.txt", content = "a\nb\nc\nd" });

        Assert.Equal("b\nc", await CallAsync("read_file", new { path = "f.txt", offset = 2, limit = 2 }));
        Assert.Equal("a\nb\nc\nd", await CallAsync("read_file", new { path = "f.txt" }));
        Assert.Contains("is not a file", await RefusedAsync("read_file", new { path = "missing.txt" }), StringComparison.Ordinal);
        Assert.Contains("'path' (text) is required", await RefusedAsync("read_file", new { }), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Edit_replaces_exactly_one_occurrence()
    {
        await CallAsync("write_file", new { path = "f.txt", content = "one two two three" });

        Assert.Contains("occurs more than once", await RefusedAsync("edit_file", new { path = "f.txt", old_text = "two", new_text = "2" }), StringComparison.Ordinal);
        Assert.Contains("does not occur", await RefusedAsync("edit_file", new { path = "f.txt", old_text = "four", new_text = "4" }), StringComparison.Ordinal);
        await CallAsync("edit_file", new { path = "f.txt", old_text = "two two", new_text = "2" });
        Assert.Equal("one 2 three", await File.ReadAllTextAsync(Path.Combine(_directory.Workspace, "f.txt"), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task List_and_search_see_the_workspace_only()
    {
        await CallAsync("write_file", new { path = "src/a.cs", content = "class A { }\n// TODO later" });
        await CallAsync("write_file", new { path = "b.txt", content = "nothing" });

        Assert.Equal("b.txt\nsrc/", await CallAsync("list_directory", new { }));
        Assert.Equal("src/a.cs:2: // TODO later", await CallAsync("search_text", new { text = "TODO" }));
        Assert.Equal("No matches.", await CallAsync("search_text", new { text = "absent", path = "src" }));
        Assert.Contains("is a directory", await RefusedAsync("write_file", new { path = "src", content = "x" }), StringComparison.Ordinal);
        Assert.Contains("outside the workspace", await RefusedAsync("search_text", new { text = "root", path = "/etc" }), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failing_command_is_an_error_result_with_its_exit_code_and_output()
    {
        var output = await _tools["run_command"].InvokeAsync(JsonSerializer.SerializeToElement(new { command = "echo out; echo err >&2; exit 3" }), TestContext.Current.CancellationToken);

        Assert.True(output.IsError);
        Assert.StartsWith("Exit code 3.\n", output.Text, StringComparison.Ordinal);
        Assert.Contains("out\n", output.Text, StringComparison.Ordinal);
        Assert.Contains("err\n", output.Text, StringComparison.Ordinal);
    }
}
