namespace Workers.Contracts;

/// <summary>
/// Timer: a queued attempt has not been claimed for a while, so its dispatch may have been lost
/// (a crash between the saga's commit and its send, or an unroutable message). The saga dispatches it again.
/// </summary>
public sealed record DispatchElapsed
{
    public Guid RunId { get; init; }

    public int Attempt { get; init; }
}
