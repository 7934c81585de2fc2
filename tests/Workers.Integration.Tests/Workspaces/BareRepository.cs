using Workers.Worker.Workspaces;

namespace Workers.Integration.Tests.Workspaces;

/// <summary>
/// A real git repository for workspace tests, served as a bare clone from a temp directory (<see cref="Url"/> is its
/// <c>file://</c> URL). History: <c>main</c> has two commits (the first tagged <c>v1</c>); <c>feature</c> adds one more.
/// </summary>
public sealed class BareRepository : IDisposable
{
    readonly string _root;

    BareRepository(string root, string first, string second, string feature)
    {
        _root = root;
        FirstCommit = first;
        MainCommit = second;
        FeatureCommit = feature;
    }

    public string BarePath => Path.Combine(_root, "origin.git");
    public Uri Url => new(BarePath);
    public string FirstCommit { get; }
    public string MainCommit { get; }
    public string FeatureCommit { get; }

    /// <summary>A fresh, not yet existing directory for a workspace.</summary>
    public string NewWorkspace() => Path.Combine(_root, "workspaces", Guid.NewGuid().ToString("N")[..8]);

    public static async Task<BareRepository> CreateAsync(CancellationToken cancellationToken)
    {
        var root = Directory.CreateTempSubdirectory("workers-git-").FullName;
        var source = Path.Combine(root, "source");
        Directory.CreateDirectory(source);
        await RunAsync(source, cancellationToken, "init", "--quiet", "--initial-branch=main");
        await File.WriteAllTextAsync(Path.Combine(source, "README.md"), "# App\n\nversion one\n", cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(source, "obsolete.txt"), "to be deleted\n", cancellationToken);
        var first = await CommitAsync(source, "first", cancellationToken);
        await RunAsync(source, cancellationToken, "tag", "v1");
        await File.AppendAllTextAsync(Path.Combine(source, "README.md"), "version two\n", cancellationToken);
        var second = await CommitAsync(source, "second", cancellationToken);
        await RunAsync(source, cancellationToken, "checkout", "--quiet", "-b", "feature");
        await File.WriteAllTextAsync(Path.Combine(source, "feature.txt"), "feature work\n", cancellationToken);
        var feature = await CommitAsync(source, "feature", cancellationToken);
        await RunAsync(source, cancellationToken, "checkout", "--quiet", "main");
        await RunAsync(root, cancellationToken, "clone", "--quiet", "--bare", source, "origin.git");
        return new BareRepository(root, first, second, feature);
    }

    static async Task<string> CommitAsync(string directory, string message, CancellationToken cancellationToken)
    {
        await RunAsync(directory, cancellationToken, "add", "--all");
        await RunAsync(directory, cancellationToken, "-c", "user.name=Test", "-c", "user.email=test@example.com", "commit", "--quiet", "-m", message);
        return (await RunAsync(directory, cancellationToken, "rev-parse", "HEAD")).Trim();
    }

    /// <summary>Runs git in <paramref name="directory"/> and returns its output; fails the test if git fails.</summary>
    public static async Task<string> RunAsync(string directory, CancellationToken cancellationToken, params string[] arguments)
    {
        var result = await Git.RunAsync(directory, arguments, TimeSpan.FromSeconds(60), cancellationToken);
        Assert.True(result.Succeeded, $"git {string.Join(' ', arguments)} failed ({result.ExitCode}): {result.ErrorTail}");
        return result.Output;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
