using System.Reflection;

namespace Workers.Testing;

/// <summary>
/// Where things are in the repository the tests run from: its root, the built hosts, the example agents.
/// The hosts are looked up in the configuration the tests were built with, so <c>dotnet test -c Release</c> starts
/// Release hosts.
/// </summary>
public static class RepoPaths
{
    const string SolutionFile = "Workers.sln";

    static readonly Lazy<string> RootPath = new(FindRoot);
    static readonly Lazy<(string Configuration, string TargetFramework)> Build = new(DetectBuild);

    /// <summary>The repository root: the nearest directory above the test assembly that holds <c>Workers.sln</c>.</summary>
    /// <exception cref="InvalidOperationException">No such directory (the tests run from outside a clone).</exception>
    public static string Root => RootPath.Value;

    /// <summary><c>Release</c> or <c>Debug</c>: the configuration the running tests were built with.</summary>
    public static string Configuration => Build.Value.Configuration;

    /// <summary>The target framework folder of the build outputs, e.g. <c>net10.0</c>.</summary>
    public static string TargetFramework => Build.Value.TargetFramework;

    /// <summary>The orchestrator host, <c>src/Workers.Orchestrator.Host/bin/&lt;Configuration&gt;/net10.0/workers-orchestrator.dll</c>.</summary>
    public static string OrchestratorDll => HostOutput("Workers.Orchestrator.Host", "workers-orchestrator.dll");

    /// <summary>The worker host, <c>src/Workers.Worker.Host/bin/&lt;Configuration&gt;/net10.0/workers-worker.dll</c>.</summary>
    public static string WorkerDll => HostOutput("Workers.Worker.Host", "workers-worker.dll");

    /// <summary>The CLI, <c>src/Workers.Cli/bin/&lt;Configuration&gt;/net10.0/workers.dll</c>.</summary>
    public static string CliDll => HostOutput("Workers.Cli", "workers.dll");

    /// <summary>The example agent definitions, <c>examples/agents.yaml</c>.</summary>
    public static string AgentsYaml => Path.Combine(Root, "examples", "agents.yaml");

    /// <summary>The examples directory (agent definitions and the scripts they run).</summary>
    public static string Examples => Path.Combine(Root, "examples");

    /// <summary>The Node.js producer, <c>tests/producers/node/submit.js</c> (needs <c>npm install</c> there; scripts/test.sh does it).</summary>
    public static string NodeProducer => Path.Combine(Root, "tests", "producers", "node", "submit.js");

    static string HostOutput(string project, string assembly) =>
        Path.Combine(Root, "src", project, "bin", Configuration, TargetFramework, assembly);

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, SolutionFile)))
                return dir.FullName;
        }
        throw new InvalidOperationException(
            $"No {SolutionFile} in {AppContext.BaseDirectory} or any directory above it: the tests must run from a build inside the repository.");
    }

    static (string, string) DetectBuild()
    {
        // The test assembly lives in .../bin/<Configuration>/<TargetFramework>/; the SDK also stamps the configuration
        // into this assembly, which covers custom output paths.
        var baseDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var framework = baseDir.Name.StartsWith("net", StringComparison.Ordinal) ? baseDir.Name : "net10.0";
        var configuration = baseDir.Parent is { Parent.Name: "bin" } configDir
            ? configDir.Name
            : typeof(RepoPaths).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        return (configuration, framework);
    }
}
