namespace Workers.Cli.Api;

/// <summary>Nothing answered at the API URL (connection refused, DNS failure, no answer in time).</summary>
internal sealed class OrchestratorUnreachableException(string api, string reason, Exception inner)
    : Exception($"cannot reach the orchestrator at {api}: {reason}; start it with `workers dev` or pass --api", inner)
{
    public string Api { get; } = api;
}

/// <summary>
/// The orchestrator answered with an error. <see cref="Exception.Message"/> is what to show the user: the problem
/// document's <c>detail</c> when there is one (it says what to fix), else the title or the status line.
/// </summary>
internal sealed class ApiProblemException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}
