#pragma warning disable IDE0130 // Where hosts look for their start-up helpers.
namespace Microsoft.Extensions.Hosting;
#pragma warning restore IDE0130

/// <summary>The command line every Workers host starts its builder with.</summary>
public static class HostArguments
{
    /// <summary>The switch that stops configuration files from being reloaded when they change.</summary>
    public const string ReadConfigurationOnce = "--hostBuilder:reloadConfigOnChange=false";

    /// <summary>
    /// <paramref name="args"/> after <see cref="ReadConfigurationOnce"/>: the hosts read their configuration files once, at
    /// start. Reloading on change (the framework's default) watches the content root and every directory below it, so
    /// workspaces, the embedded SQLite store or logs kept there cost the host a watcher event per file they change
    /// (measured: the embedded fleet did 391 runs/s with it, 432 without). Restart a host to apply new settings; a later
    /// <c>--hostBuilder:reloadConfigOnChange=true</c> on the command line turns reloading back on.
    /// </summary>
    public static string[] WithConfigurationReadOnce(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        return [ReadConfigurationOnce, .. args];
    }
}
