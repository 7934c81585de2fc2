using Workers.Runs.Persistence;
using Workers.Runs.Tests.Persistence;

namespace Workers.Runs.Tests.Workspaces;

/// <summary>The <c>artifacts</c> column (migration 0004) on real PostgreSQL and SQLite.</summary>
public sealed class ArtifactsColumn_Specs
{
    static readonly DateTimeOffset Now = new(2026, 3, 1, 9, 0, 0, TimeSpan.Zero);

    public static TheoryData<string> Providers => [nameof(StoreProvider.Postgres), nameof(StoreProvider.Sqlite)];

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Artifacts_are_stored_updated_and_read_back(string provider)
    {
        // The migrations are numbered with a gap (0003 belongs to another change): 0004 still applies.
        await using var fixture = await StoreFixture.CreateAsync(provider);
        var run = StoreFixture.NewRun(Now);
        await fixture.Store.InsertAsync(run, Ct);
        Assert.Null((await fixture.Store.LoadAsync(run.CorrelationId, Ct))!.ArtifactsJson);

        var loaded = (await fixture.Store.LoadAsync(run.CorrelationId, Ct))!;
        loaded.ArtifactsJson = """{"filesChanged":["README.md"],"diffSummary":" 1 file changed, 1 insertion(+)","commands":["make"],"handOff":"ok"}""";
        await fixture.Store.UpdateAsync(loaded, Ct);

        Assert.Equal(loaded.ArtifactsJson, (await fixture.Store.LoadAsync(run.CorrelationId, Ct))!.ArtifactsJson);
    }
}
