using System.Globalization;

using Workers.Testing;

namespace Workers.Benchmarks;

/// <summary>
/// A private copy of the Release hosts for one invocation: every round runs the same binaries even if someone
/// rebuilds the solution meanwhile (a rebuild replaces files under the processes' feet).
/// </summary>
public sealed class HostBuild : IDisposable
{
    readonly string root;

    HostBuild(string root, string orchestratorDll, string workerDll, string? cliDll, string builtAt)
    {
        this.root = root;
        CliDll = cliDll;
        OrchestratorDll = orchestratorDll;
        WorkerDll = workerDll;
        BuiltAt = builtAt;
    }

    public string OrchestratorDll { get; }

    public string WorkerDll { get; }

    /// <summary>The <c>workers</c> CLI (for <c>workers dev</c>, the embedded mode); null if it is not built.</summary>
    public string? CliDll { get; }

    /// <summary>
    /// A RabbitMQ policy definition (<c>--queue-policy</c>) every fleet round puts on all the queues of its vhost before
    /// the hosts start; null keeps the broker's defaults.
    /// </summary>
    public System.Text.Json.JsonElement? QueuePolicy { get; set; }

    /// <summary>When the copied hosts were built (the newer dll's time), for the report.</summary>
    public string BuiltAt { get; }

    /// <summary>Why the hosts cannot be used, or null: the benchmark is about the Release build and does not build it.</summary>
    public static string? Problem()
    {
        if (RepoPaths.Configuration != "Release")
            return $"run the benchmark in Release (dotnet run -c Release --project tests/Workers.Benchmarks); this build is {RepoPaths.Configuration}.";
        var missing = new[] { RepoPaths.OrchestratorDll, RepoPaths.WorkerDll }.Where(p => !File.Exists(p)).ToList();
        return missing.Count == 0
            ? null
            : $"the hosts are not built in Release: {string.Join(", ", missing)} missing. Build the solution first: dotnet build -c Release Workers.sln";
    }

    public static HostBuild Snapshot()
    {
        var root = Directory.CreateTempSubdirectory("workers-bench-hosts-").FullName;
        try
        {
            var orchestrator = Copy(RepoPaths.OrchestratorDll, Path.Combine(root, "orchestrator"));
            var worker = Copy(RepoPaths.WorkerDll, Path.Combine(root, "worker"));
            var cli = File.Exists(RepoPaths.CliDll) ? Copy(RepoPaths.CliDll, Path.Combine(root, "cli")) : null;
            var built = new[] { RepoPaths.OrchestratorDll, RepoPaths.WorkerDll }.Max(File.GetLastWriteTimeUtc);
            return new HostBuild(root, orchestrator, worker, cli, built.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture));
        }
        catch
        {
            Directory.Delete(root, recursive: true);
            throw;
        }
    }

    static string Copy(string assembly, string target)
    {
        var source = Path.GetDirectoryName(assembly)!;
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var destination = Path.Combine(target, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file, destination);
        }
        return Path.Combine(target, Path.GetFileName(assembly));
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
