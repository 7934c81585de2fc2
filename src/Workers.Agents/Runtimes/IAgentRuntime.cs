using Workers.Contracts;

namespace Workers.Agents.Runtimes;

/// <summary>
/// One way of running an agent (the built-in loop, an external CLI, a bring-your-own executable).
/// Registered in DI; the worker offers the runtimes whose prerequisites hold.
/// </summary>
public interface IAgentRuntime
{
    /// <summary>The runtime's name as written in agent definitions, e.g. <c>process</c>.</summary>
    string Name { get; }

    /// <summary>Checks what the runtime needs (binaries, credentials) before the worker offers it.</summary>
    ValueTask<PrerequisiteCheck> CheckPrerequisitesAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs one attempt to its end. Streams progress to <paramref name="events"/>. Honours
    /// <paramref name="cancellationToken"/> by stopping the agent (killing its process tree where there is one)
    /// and returning <see cref="AgentOutcome.Cancelled"/>; it does not throw for cancellation or agent failure.
    /// </summary>
    Task<AgentOutcome> RunAsync(AgentInvocation invocation, IAgentEventSink events, CancellationToken cancellationToken);

    /// <summary>
    /// Whether the runtime emits <see cref="AgentEvent.Checkpoint"/> events and can resume an attempt from
    /// <see cref="AgentInvocation.ResumeFrom"/>. Runtimes that cannot ignore <see cref="AgentInvocation.ResumeFrom"/>.
    /// </summary>
    bool SupportsCheckpoints => false;
}

/// <summary>Everything a runtime needs to run one attempt.</summary>
/// <param name="RunId">The run.</param>
/// <param name="Attempt">1 for the first attempt.</param>
/// <param name="Input">The task text.</param>
/// <param name="Agent">The resolved agent definition (its <see cref="AgentSpec.Settings"/> are the runtime's own section).</param>
/// <param name="WorkspaceDirectory">A fresh directory for this attempt; the agent's working directory.</param>
/// <param name="ResumeFrom">The last checkpoint an earlier attempt of the run saved, for runtimes that support checkpoints; null to start over.</param>
public sealed record AgentInvocation(Guid RunId, int Attempt, string Input, AgentSpec Agent, string WorkspaceDirectory, AgentCheckpoint? ResumeFrom = null)
{
    /// <summary>
    /// Fires when the attempt must end at once: its lease has lapsed, so the run may be granted to another worker any moment.
    /// A runtime that gives a stopped agent time to exit (an interrupt, SIGTERM) skips or cuts short that time and kills it.
    /// </summary>
    public CancellationToken Abort { get; init; }
}

/// <summary>A runtime's saved progress: <paramref name="State"/> is opaque text only the runtime that wrote it reads back.</summary>
/// <param name="Attempt">The attempt that saved it.</param>
/// <param name="Step">The last step completed when it was saved.</param>
/// <param name="State">The runtime's state (e.g. JSON of the conversation), at most 4 MiB.</param>
public sealed record AgentCheckpoint(int Attempt, int Step, string State);

/// <summary>Result of a prerequisite check: OK, or what is missing with a link that explains how to fix it.</summary>
public sealed record PrerequisiteCheck(bool Satisfied, string? Problem = null, string? HelpUrl = null)
{
    public static PrerequisiteCheck Ok { get; } = new(true);

    public static PrerequisiteCheck Missing(string problem, string? helpUrl = null) => new(false, problem, helpUrl);
}

/// <summary>How an attempt ended.</summary>
public abstract record AgentOutcome
{
    /// <summary>The agent finished; <paramref name="Output"/> is its final result text.</summary>
    public sealed record Succeeded(string Output) : AgentOutcome;

    /// <summary>The agent failed. <paramref name="Kind"/> is short and machine-readable (e.g. <c>exit-code</c>).</summary>
    public sealed record Failed(string Error, string Kind, bool Retryable, string? Output = null) : AgentOutcome;

    /// <summary>The attempt was stopped because its cancellation token fired.</summary>
    public sealed record Cancelled(string? Output = null) : AgentOutcome;
}

/// <summary>Receives what an agent does while it runs. Implementations must be thread-safe and cheap.</summary>
public interface IAgentEventSink
{
    void Emit(AgentEvent agentEvent);
}

/// <summary>Something an agent did, in the common vocabulary every runtime maps its own events to.</summary>
public abstract record AgentEvent
{
    /// <summary>A message from the agent (assistant text, or a plain output line).</summary>
    public sealed record Message(string Text) : AgentEvent;

    /// <summary>The agent started a tool call.</summary>
    public sealed record ToolStarted(string Tool, string? Input = null, string? CallId = null) : AgentEvent;

    /// <summary>A tool call ended; <paramref name="Output"/> is truncated by the runtime.</summary>
    public sealed record ToolCompleted(string Tool, string? Output = null, bool IsError = false, string? CallId = null) : AgentEvent;

    /// <summary>Usage since the previous usage event (deltas, not totals); <paramref name="Steps"/> counts agent steps.</summary>
    public sealed record Usage(int Steps = 0, long InputTokens = 0, long OutputTokens = 0, decimal CostUsd = 0) : AgentEvent;

    /// <summary>A diagnostic line (e.g. from stderr); kept for failure reasons.</summary>
    public sealed record Log(string Text) : AgentEvent;

    /// <summary>A step completed and its state was saved; the fleet keeps the last one and hands it to the next attempt.</summary>
    public sealed record Checkpoint(int Step, string State) : AgentEvent;

    /// <summary>Emitted once at the start of an attempt that resumes from the checkpoint another attempt saved.</summary>
    public sealed record Resumed(int FromStep, int FromAttempt) : AgentEvent;
}
