using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.Hosting;

namespace Workers.Cli.Dev;

/// <summary>The builder for the embedded fleet; <see cref="Commands.DevCommand"/> composes the services on it.</summary>
internal static class DevHost
{
    /// <summary>
    /// Quiet defaults for a terminal: ASP.NET Core logs every request at Information, and the CLI (and the demo)
    /// poll several times a second. Lowest precedence, so <c>Logging__LogLevel__…</c> still turns them back on.
    /// </summary>
    static readonly Dictionary<string, string?> LoggingDefaults = new()
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        ["Logging:LogLevel:Microsoft.EntityFrameworkCore"] = "Warning",
    };

    /// <summary>A web application builder with the embedded-mode configuration applied; creates the data directory.</summary>
    public static WebApplicationBuilder CreateBuilder(DevSettings settings, string contentRoot)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Directory.CreateDirectory(Path.GetDirectoryName(settings.DataPath)!);

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = HostArguments.WithConfigurationReadOnce([]), ContentRootPath = contentRoot });
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource { InitialData = LoggingDefaults });
        builder.Configuration.AddInMemoryCollection(settings.ConfigurationOverrides());
        builder.WebHost.UseUrls(settings.Urls);
        return builder;
    }

    /// <summary>
    /// The URL a client on this machine reaches the started app at: the first http address Kestrel bound
    /// (with port 0 resolved), with a wildcard host (0.0.0.0, [::], +, *) replaced by the loopback address.
    /// </summary>
    public static Uri ClientUrl(IEnumerable<string> boundAddresses)
    {
        ArgumentNullException.ThrowIfNull(boundAddresses);
        var addresses = boundAddresses.ToList();
        var chosen = addresses.FirstOrDefault(a => a.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
            ?? addresses.FirstOrDefault()
            ?? DevSettings.DefaultUrls;

        // Uri cannot parse the '+' and '*' wildcards, so swap the host textually.
        var schemeEnd = chosen.IndexOf("://", StringComparison.Ordinal) + 3;
        var hostEnd = chosen.LastIndexOf(':');
        if (hostEnd > schemeEnd)
        {
            var host = chosen[schemeEnd..hostEnd];
            if (host is "0.0.0.0" or "[::]" or "+" or "*")
                chosen = string.Concat(chosen.AsSpan(0, schemeEnd), "127.0.0.1", chosen.AsSpan(hostEnd));
        }
        return new Uri(chosen);
    }
}
