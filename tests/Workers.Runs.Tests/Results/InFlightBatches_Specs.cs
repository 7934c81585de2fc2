using Workers.ServiceDefaults.Batching;

namespace Workers.Runs.Tests.Results;

/// <summary>The batching the claim batcher, the result reporter and the store's group commit stand on, with sends the test finishes by hand.</summary>
public sealed class InFlightBatches_Specs
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Items_leave_at_once_while_sends_are_free_and_together_once_they_are_not(int maxInFlight)
    {
        var sends = new List<(List<int> Items, TaskCompletionSource Done)>();
        var batches = new InFlightBatches<int>(maxInFlight, _ => 3, batch =>
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (sends)
                sends.Add((batch, done));
            return done.Task;
        });

        for (var i = 1; i <= 8; i++)
            batches.Add(i);

        // The first maxInFlight items each left alone, at once; the rest wait.
        Assert.Equal(Enumerable.Range(1, maxInFlight).Select(i => new List<int> { i }), Snapshot(sends).Select(s => s.Items));

        // Each finished send takes the oldest waiting items, at most three.
        Snapshot(sends)[0].Done.SetResult();
        var next = await WaitForSendAsync(sends, maxInFlight + 1);
        Assert.Equal(Enumerable.Range(maxInFlight + 1, 3), next.Items);

        // Finishing the sends lets the rest leave: every item exactly once, never more than three at a time.
        while (Snapshot(sends).Sum(s => s.Items.Count) < 8)
        {
            var before = Snapshot(sends).Count;
            foreach (var send in Snapshot(sends))
                send.Done.TrySetResult();
            await WaitForSendAsync(sends, before + 1);
        }
        Assert.Equal(Enumerable.Range(1, 8), Snapshot(sends).SelectMany(s => s.Items).Order());
        Assert.All(Snapshot(sends), s => Assert.InRange(s.Items.Count, 1, 3));
    }

    static List<(List<int> Items, TaskCompletionSource Done)> Snapshot(List<(List<int> Items, TaskCompletionSource Done)> sends)
    {
        lock (sends)
            return [.. sends];
    }

    static async Task<(List<int> Items, TaskCompletionSource Done)> WaitForSendAsync(List<(List<int> Items, TaskCompletionSource Done)> sends, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Snapshot(sends).Count < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"no send number {count} came");
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }
        return Snapshot(sends)[count - 1];
    }
}
