using System.Net;
using System.Net.Sockets;

using Workers.Cli.Api;
using Workers.Cli.Tests.Support;
using Workers.Orchestrator.Api;

namespace Workers.Cli.Tests;

public sealed class ApiClientTests
{
    [Fact]
    public async Task Submitting_posts_camel_case_json_and_reads_the_acceptance()
    {
        await using var fake = await FakeOrchestrator.StartAsync(TestContext.Current.CancellationToken);
        using var api = ApiClient.Create(fake.Url);
        var runId = Guid.NewGuid();

        var accepted = await api.SubmitAsync(new SubmitRunRequest { RunId = runId, Agent = "echo", Input = "hi", Priority = 7 },
            TestContext.Current.CancellationToken);

        Assert.Equal(runId, accepted.RunId);
        var sent = Assert.Single(fake.Submissions);
        Assert.Equal(("echo", "hi", 7), (sent.Agent, sent.Input, sent.Priority));
    }

    [Fact]
    public async Task An_error_answer_becomes_a_problem_carrying_the_detail()
    {
        await using var fake = await FakeOrchestrator.StartAsync(TestContext.Current.CancellationToken);
        using var api = ApiClient.Create(fake.Url);

        var problem = await Assert.ThrowsAsync<ApiProblemException>(() =>
            api.SubmitAsync(new SubmitRunRequest { Agent = FakeOrchestrator.UnknownAgent, Input = "x" }, TestContext.Current.CancellationToken));

        Assert.Equal(400, problem.Status);
        Assert.Equal(FakeOrchestrator.UnknownAgentDetail, problem.Message);
    }

    [Fact]
    public async Task An_error_without_a_problem_body_names_the_request_and_the_status()
    {
        await using var fake = await FakeOrchestrator.StartAsync(TestContext.Current.CancellationToken);
        using var api = ApiClient.Create(new Uri(fake.Url, "/elsewhere/"));

        var problem = await Assert.ThrowsAsync<ApiProblemException>(() => api.ListWorkersAsync(TestContext.Current.CancellationToken));

        Assert.Equal(404, problem.Status);
        Assert.Equal("GET /elsewhere/api/workers answered 404 Not Found", problem.Message);
    }

    [Fact]
    public async Task A_closed_port_is_unreachable_with_advice_on_starting_the_fleet()
    {
        using var api = ApiClient.Create(ClosedPort());

        var error = await Assert.ThrowsAsync<OrchestratorUnreachableException>(() => api.ListWorkersAsync(TestContext.Current.CancellationToken));

        Assert.StartsWith($"cannot reach the orchestrator at {api.BaseAddress.AbsoluteUri.TrimEnd('/')}: ", error.Message, StringComparison.Ordinal);
        Assert.EndsWith("start it with `workers dev` or pass --api", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Readiness_is_false_rather_than_an_error_when_nothing_listens()
    {
        using var api = ApiClient.Create(ClosedPort());

        Assert.False(await api.IsReadyAsync(TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("""{"title":"Invalid request","detail":"priority must be 0 to 9.","status":400}""", "priority must be 0 to 9.")]
    [InlineData("""{"title":"Run not found","status":404}""", "Run not found")]
    [InlineData("""{"title":"One or more validation errors occurred.","errors":{"agent":["is required"]}}""", "One or more validation errors occurred.\nagent: is required")]
    [InlineData("<html>oops</html>", null)]
    [InlineData("[1,2]", null)]
    [InlineData("", null)]
    public void Problem_text_prefers_detail_then_title_and_lists_validation_errors(string body, string? expected)
    {
        Assert.Equal(expected, ApiClient.ProblemText(body));
    }

    /// <summary>A loopback URL nothing listens on: a port the OS just handed out and took back.</summary>
    internal static Uri ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return new Uri($"http://127.0.0.1:{port}");
    }
}
