using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Workers.Agents.Runtimes;

namespace Workers.Worker.Execution;

/// <summary>
/// The runtimes this worker offers: the configured ones (or all registered) whose prerequisites hold. A runtime whose
/// check fails is logged with what is missing and not offered, so its runs go to workers that can run them.
/// </summary>
public sealed partial class RuntimeOffer
{
    readonly Lazy<IReadOnlyDictionary<string, IAgentRuntime>> _offered;

    public RuntimeOffer(IEnumerable<IAgentRuntime> runtimes, IOptions<WorkerOptions> options, ILogger<RuntimeOffer> logger)
    {
        _offered = new Lazy<IReadOnlyDictionary<string, IAgentRuntime>>(() => Decide(runtimes.ToList(), options.Value, logger));
    }

    public IReadOnlyDictionary<string, IAgentRuntime> Offered => _offered.Value;

    /// <summary>Problems found, by runtime, for the registry and the start-up log.</summary>
    public IReadOnlyDictionary<string, PrerequisiteCheck> Unavailable { get; private set; } = new Dictionary<string, PrerequisiteCheck>();

    Dictionary<string, IAgentRuntime> Decide(List<IAgentRuntime> registered, WorkerOptions options, ILogger logger)
    {
        var wanted = options.Runtimes.Count > 0 ? options.Runtimes.ToList() : registered.Select(r => r.Name).ToList();
        var unknown = wanted.Except(registered.Select(r => r.Name)).ToList();
        if (unknown.Count > 0)
        {
            throw new OptionsValidationException(WorkerOptions.SectionName, typeof(WorkerOptions),
                [$"Workers:Worker:Runtimes names unknown runtime(s) {string.Join(", ", unknown)}; known runtimes: {string.Join(", ", registered.Select(r => r.Name))}."]);
        }

        var offered = new Dictionary<string, IAgentRuntime>(StringComparer.Ordinal);
        var unavailable = new Dictionary<string, PrerequisiteCheck>(StringComparer.Ordinal);
        foreach (var runtime in registered.Where(r => wanted.Contains(r.Name)))
        {
            // Start-up only, before the bus exists: a blocking wait is acceptable here.
            var check = runtime.CheckPrerequisitesAsync().AsTask().GetAwaiter().GetResult();
            if (check.Satisfied)
            {
                offered[runtime.Name] = runtime;
            }
            else
            {
                unavailable[runtime.Name] = check;
                LogUnavailable(logger, runtime.Name, check.Problem ?? "prerequisite missing", check.HelpUrl ?? "");
            }
        }
        Unavailable = unavailable;
        if (offered.Count == 0)
        {
            throw new OptionsValidationException(WorkerOptions.SectionName, typeof(WorkerOptions),
                ["this worker can offer no runtime: every runtime's prerequisites failed (see the log above) or Workers:Worker:Runtimes is empty of usable ones."]);
        }
        var names = string.Join(", ", offered.Keys);
        LogOffered(logger, names);
        return offered;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Runtime {Runtime} is not offered: {Problem} {HelpUrl}")]
    static partial void LogUnavailable(ILogger logger, string runtime, string problem, string helpUrl);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Offering runtimes: {Runtimes}")]
    static partial void LogOffered(ILogger logger, string runtimes);
}
