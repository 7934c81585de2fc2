namespace Workers.Testing;

/// <summary>Waits for a condition the test cannot be told about, by asking again every <c>interval</c>.</summary>
public static class Poll
{
    /// <summary>Returns once <paramref name="condition"/> holds.</summary>
    /// <exception cref="TimeoutException">It did not within <paramref name="timeout"/>; the message says what was awaited.</exception>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan timeout, CancellationToken cancellationToken,
        TimeSpan? interval = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition().ConfigureAwait(false))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{what}: not within {timeout.TotalSeconds:0.#} s.");
            await Task.Delay(interval ?? TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc cref="UntilAsync(Func{Task{bool}}, string, TimeSpan, CancellationToken, TimeSpan?)"/>
    public static Task UntilAsync(Func<bool> condition, string what, TimeSpan timeout, CancellationToken cancellationToken) =>
        UntilAsync(() => Task.FromResult(condition()), what, timeout, cancellationToken);
}
