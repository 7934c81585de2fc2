using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

using Workers.Agents.Runtimes;

#pragma warning disable IDE0130 // Extension methods live where hosts look for them.
namespace Microsoft.Extensions.Hosting;
#pragma warning restore IDE0130

/// <summary>Registers the agent runtimes.</summary>
public static class AgentRuntimeServiceCollectionExtensions
{
    /// <summary>
    /// Registers every runtime adapter as an <see cref="IAgentRuntime"/> singleton (today: <see cref="ProcessRuntime"/>)
    /// with its options (<see cref="ProcessRuntimeOptions"/>, section <c>Workers:Runtimes:Process</c>), validated at start.
    /// </summary>
    public static IServiceCollection AddAgentRuntimes(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<ProcessRuntimeOptions>()
            .BindConfiguration(ProcessRuntimeOptions.SectionName)
            .Validate(
                static o => o.TerminationGracePeriod >= TimeSpan.Zero && o.TerminationGracePeriod <= ProcessRuntimeOptions.MaxTerminationGracePeriod,
                $"{ProcessRuntimeOptions.SectionName}:{nameof(ProcessRuntimeOptions.TerminationGracePeriod)} must be between 00:00:00 and 00:05:00.")
            .Validate(
                static o => o.MaxOutputLength is >= ProcessRuntimeOptions.MinOutputLength and <= ProcessRuntimeOptions.MaxOutputLengthLimit,
                $"{ProcessRuntimeOptions.SectionName}:{nameof(ProcessRuntimeOptions.MaxOutputLength)} must be between {ProcessRuntimeOptions.MinOutputLength} and {ProcessRuntimeOptions.MaxOutputLengthLimit}.")
            .ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAgentRuntime, ProcessRuntime>());
        return services;
    }
}
