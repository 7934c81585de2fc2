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

    [Fact]
    public async Task Items_that_are_not_urgent_wait_for_an_urgent_one_to_leave_with_and_urgent_ones_never_wait()
    {
        var sends = new List<(List<int> Items, TaskCompletionSource Done)>();
        // Odd items are urgent (claims), even ones may wait for company (results); the patience is far longer than the test.
        var batches = new InFlightBatches<int>(1, _ => 10, batch =>
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (sends)
                sends.Add((batch, done));
            return done.Task;
        }, i => i % 2 == 1, TimeSpan.FromMinutes(5));

        batches.Add(2);
        batches.Add(4);
        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.Empty(Snapshot(sends));

        // An urgent item ends the wait: all three leave together, at once.
        batches.Add(1);
        var first = await WaitForSendAsync(sends, 1);
        Assert.Equal([2, 4, 1], first.Items);

        // While that send is in flight, what comes up waits for it, then leaves at once with the urgent item among it.
        batches.Add(6);
        batches.Add(3);
        first.Done.SetResult();
        Assert.Equal([6, 3], (await WaitForSendAsync(sends, 2)).Items);
    }

    [Fact]
    public async Task An_item_that_is_not_urgent_leaves_alone_once_its_patience_is_over()
    {
        var sends = new List<(List<int> Items, TaskCompletionSource Done)>();
        var batches = new InFlightBatches<int>(1, _ => 10, batch =>
        {
            lock (sends)
                sends.Add((batch, new TaskCompletionSource()));
            return Task.CompletedTask;
        }, i => i % 2 == 1, TimeSpan.FromMilliseconds(50));

        batches.Add(2);
        Assert.Equal([2], (await WaitForSendAsync(sends, 1)).Items);
        Assert.Single(Snapshot(sends));
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
