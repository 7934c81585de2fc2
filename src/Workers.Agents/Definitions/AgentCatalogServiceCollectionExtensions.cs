using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

using Workers.Agents.Definitions;

#pragma warning disable IDE0130 // Extension methods live where hosts look for them.
namespace Microsoft.Extensions.Hosting;
#pragma warning restore IDE0130

/// <summary>Registers the agent definitions.</summary>
public static class AgentCatalogServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IAgentCatalog"/> as a singleton read from the file named by <c>Workers:Agents:Path</c>
    /// (<see cref="AgentCatalogOptions"/>). The file is read once, on first use; a hosted service makes that use
    /// happen while the host starts, so a missing or invalid file stops the host with a message naming the file,
    /// the field and the setting.
    /// </summary>
    public static IServiceCollection AddAgentCatalog(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<AgentCatalogOptions>().BindConfiguration(AgentCatalogOptions.SectionName);
        services.TryAddSingleton<IAgentCatalog>(static provider =>
            AgentCatalog.Load(ResolvePath(provider.GetRequiredService<IOptions<AgentCatalogOptions>>().Value)));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, AgentCatalogStartupCheck>());
        return services;
    }

    private static string ResolvePath(AgentCatalogOptions options)
    {
        if (!string.IsNullOrWhiteSpace(options.Path))
        {
            return options.Path;
        }

        if (File.Exists(AgentCatalogOptions.DefaultFileName))
        {
            return AgentCatalogOptions.DefaultFileName;
        }

        throw new AgentDefinitionException(
            $"No agent definitions file: {AgentCatalogOptions.SectionName}:Path is not set and there is no {AgentCatalogOptions.DefaultFileName} in the current directory ({Environment.CurrentDirectory}). {AgentCatalog.HowToSetPath}");
    }
}

/// <summary>Loads the catalog before the host's services start, so a bad definitions file stops the host.</summary>
internal sealed class AgentCatalogStartupCheck(IServiceProvider services) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        _ = services.GetRequiredService<IAgentCatalog>();
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
