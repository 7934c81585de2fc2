using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

using Workers.Agents.Runtimes;
using Workers.Agents.Runtimes.Cli;
using Workers.Agents.Runtimes.Native;

#pragma warning disable IDE0130 // Extension methods live where hosts look for them.
namespace Microsoft.Extensions.Hosting;
#pragma warning restore IDE0130

/// <summary>Registers the agent runtimes.</summary>
public static class AgentRuntimeServiceCollectionExtensions
{
    /// <summary>
    /// Registers every runtime adapter as an <see cref="IAgentRuntime"/> singleton (today: <see cref="ProcessRuntime"/>)
    /// with its options (<see cref="ProcessRuntimeOptions"/>, section <c>Workers:Runtimes:Process</c>), validated at start;
    /// and the external CLI runtimes (<see cref="ClaudeCodeRuntime"/>, <see cref="CodexRuntime"/>, <see cref="GeminiRuntime"/>,
    /// <see cref="CursorRuntime"/>) with their named <see cref="CliRuntimeOptions"/> (sections <c>Workers:Runtimes:ClaudeCode</c>,
    /// <c>:Codex</c>, <c>:Gemini</c>, <c>:Cursor</c>); and the built-in loop (<see cref="NativeRuntime"/>) with its
    /// <see cref="NativeRuntimeOptions"/> (section <c>Workers:Runtimes:Native</c>). The worker offers only the runtimes whose prerequisites hold.
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
        services.AddOptions<NativeRuntimeOptions>()
            .BindConfiguration(NativeRuntimeOptions.SectionName)
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<NativeRuntimeOptions>, NativeRuntimeOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAgentRuntime, NativeRuntime>());
        services.AddCliRuntimeOptions();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAgentRuntime, ClaudeCodeRuntime>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAgentRuntime, CodexRuntime>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAgentRuntime, GeminiRuntime>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAgentRuntime, CursorRuntime>());
        return services;
    }

    private static void AddCliRuntimeOptions(this IServiceCollection services)
    {
        foreach (var dialect in CliDialects.All)
        {
            var section = dialect.OptionsSection;
            services.AddOptions<CliRuntimeOptions>(dialect.Runtime)
                .BindConfiguration(section)
                .Validate(
                    static o => o.InterruptGracePeriod >= TimeSpan.Zero && o.InterruptGracePeriod <= CliRuntimeOptions.MaxGracePeriod,
                    $"{section}:{nameof(CliRuntimeOptions.InterruptGracePeriod)} must be between 00:00:00 and 00:05:00.")
                .Validate(
                    static o => o.TerminationGracePeriod >= TimeSpan.Zero && o.TerminationGracePeriod <= CliRuntimeOptions.MaxGracePeriod,
                    $"{section}:{nameof(CliRuntimeOptions.TerminationGracePeriod)} must be between 00:00:00 and 00:05:00.")
                .Validate(
                    static o => o.ProbeTimeout > TimeSpan.Zero && o.ProbeTimeout <= CliRuntimeOptions.MaxGracePeriod,
                    $"{section}:{nameof(CliRuntimeOptions.ProbeTimeout)} must be more than zero and at most 00:05:00.")
                .Validate(
                    static o => o.MaxOutputLength is >= CliRuntimeOptions.MinOutputLength and <= CliRuntimeOptions.MaxOutputLengthLimit,
                    $"{section}:{nameof(CliRuntimeOptions.MaxOutputLength)} must be between {CliRuntimeOptions.MinOutputLength} and {CliRuntimeOptions.MaxOutputLengthLimit}.")
                .Validate(
                    static o => o.Command is null || !string.IsNullOrWhiteSpace(o.Command),
                    $"{section}:{nameof(CliRuntimeOptions.Command)} must name the CLI executable (a path or a name on PATH) or be left unset.")
                .ValidateOnStart();
        }
    }
}
