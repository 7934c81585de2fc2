namespace Workers.Contracts;

/// <summary>
/// Several attempts that finished successfully, from one worker, in one message: the successes it gathered while its
/// previous report was waiting for the broker's confirm. Each is kept or ignored exactly as a <see cref="RunSucceeded"/> would be.
/// </summary>
public sealed record RunsSucceeded
{
    public IReadOnlyList<RunSucceeded> Results { get; init; } = [];
}
