using Workers.Agents.Runtimes;
using Workers.Agents.Runtimes.Native;
using Workers.Testing;

namespace Workers.Agents.Tests.Native;

/// <summary>The Polly edge and the error mapping, against fake providers that answer with errors, slowly or with garbage.</summary>
public sealed class ProviderResilienceTests : IDisposable
{
    private readonly NativeHarness _h = new(o =>
    {
        o.MaxRetries = 2;
        o.CallTimeout = TimeSpan.FromMilliseconds(1500); // well above a loopback answer on a loaded machine, well below the slow answers (5 s)
    });

    public static TheoryData<string> Providers => ["openai", "anthropic"];

    public void Dispose() => _h.Dispose();

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_429_is_retried_after_the_wait_Retry_After_asks_for(string provider)
    {
        _h.Server.Then(new ScriptedResponse(429, Error(provider, "slow down", "rate_limit_error"), RetryAfter: "1")).Then(Text(provider, "fine"));

        var outcome = await _h.RunAsync(Settings(provider), "Hi.");

        Assert.Equal(new AgentOutcome.Succeeded("fine"), outcome);
        var requests = _h.Server.Requests;
        Assert.Equal(2, requests.Count);
        Assert.True(requests[1].At - requests[0].At >= TimeSpan.FromMilliseconds(900), $"retried after {requests[1].At - requests[0].At}");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_500_is_retried(string provider)
    {
        _h.Server.Then(new ScriptedResponse(500, Error(provider, "boom", "api_error"))).Then(Text(provider, "recovered"));

        Assert.Equal(new AgentOutcome.Succeeded("recovered"), await _h.RunAsync(Settings(provider), "Hi."));
        Assert.Equal(2, _h.Server.Requests.Count);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Repeated_5xx_fail_the_run_as_retryable_provider_unavailable(string provider)
    {
        for (var i = 0; i < 3; i++)
        {
            _h.Server.Then(new ScriptedResponse(503, Error(provider, "overloaded", "overloaded_error")));
        }

        var failed = Assert.IsType<AgentOutcome.Failed>(await _h.RunAsync(Settings(provider), "Hi."));

        Assert.Equal(NativeFailureKinds.ProviderUnavailable, failed.Kind);
        Assert.True(failed.Retryable);
        Assert.Contains("503", failed.Error, StringComparison.Ordinal);
        Assert.Equal(3, _h.Server.Requests.Count);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_400_is_not_retried_and_fails_with_the_providers_message(string provider)
    {
        _h.Server.Then(new ScriptedResponse(400, Error(provider, "messages: field required")));

        var failed = Assert.IsType<AgentOutcome.Failed>(await _h.RunAsync(Settings(provider), "Hi."));

        Assert.Equal(NativeFailureKinds.ProviderBadRequest, failed.Kind);
        Assert.False(failed.Retryable);
        Assert.Contains("messages: field required", failed.Error, StringComparison.Ordinal);
        Assert.Single(_h.Server.Requests);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_401_or_403_is_not_retried_and_fails_as_provider_auth(string provider)
    {
        _h.Server.Then(new ScriptedResponse(401, Error(provider, $"invalid x-api-key {NativeHarness.Key}", "authentication_error")));

        var failed = Assert.IsType<AgentOutcome.Failed>(await _h.RunAsync(Settings(provider), "Hi."));

        Assert.Equal(NativeFailureKinds.ProviderAuth, failed.Kind);
        Assert.False(failed.Retryable);
        Assert.Contains("invalid x-api-key", failed.Error, StringComparison.Ordinal);
        Assert.DoesNotContain(NativeHarness.Key, failed.Error, StringComparison.Ordinal);
        Assert.Single(_h.Server.Requests);

        _h.Server.Then(new ScriptedResponse(403, Error(provider, "forbidden", "permission_error")));
        Assert.Equal(NativeFailureKinds.ProviderAuth, Assert.IsType<AgentOutcome.Failed>(await _h.RunAsync(Settings(provider), "Hi.")).Kind);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_call_slower_than_the_call_timeout_is_cut_and_retried(string provider)
    {
        _h.Server.Then(new ScriptedResponse(200, Text(provider, "too late"), Delay: TimeSpan.FromSeconds(5))).Then(Text(provider, "in time"));

        Assert.Equal(new AgentOutcome.Succeeded("in time"), await _h.RunAsync(Settings(provider), "Hi."));
        Assert.Equal(2, _h.Server.Requests.Count);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Calls_that_always_time_out_fail_as_retryable_provider_unavailable(string provider)
    {
        for (var i = 0; i < 3; i++)
        {
            _h.Server.Then(new ScriptedResponse(200, Text(provider, "too late"), Delay: TimeSpan.FromSeconds(5)));
        }

        var failed = Assert.IsType<AgentOutcome.Failed>(await _h.RunAsync(Settings(provider), "Hi."));

        Assert.Equal(NativeFailureKinds.ProviderUnavailable, failed.Kind);
        Assert.True(failed.Retryable);
        Assert.Contains("timeout", failed.Error, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_malformed_body_fails_as_retryable_provider_bad_response(string provider)
    {
        _h.Server.Then("{\"this is\": not json");

        var failed = Assert.IsType<AgentOutcome.Failed>(await _h.RunAsync(Settings(provider), "Hi."));

        Assert.Equal(NativeFailureKinds.ProviderBadResponse, failed.Kind);
        Assert.True(failed.Retryable);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_body_of_the_wrong_shape_fails_as_retryable_provider_bad_response(string provider)
    {
        _h.Server.Then("""{"unexpected": [1, 2, 3]}""");

        var failed = Assert.IsType<AgentOutcome.Failed>(await _h.RunAsync(Settings(provider), "Hi."));

        Assert.Equal(NativeFailureKinds.ProviderBadResponse, failed.Kind);
    }

    [Fact]
    public async Task The_circuit_opens_after_repeated_failures_and_later_calls_fail_fast_without_reaching_the_endpoint()
    {
        using var harness = new NativeHarness(o =>
        {
            o.MaxRetries = 0;
            o.CircuitBreakerMinimumThroughput = 2;
            o.CircuitBreakerBreakDuration = TimeSpan.FromMinutes(1);
        });
        harness.Server.Then(new ScriptedResponse(500, OpenAiWire.Error("down"))).Then(new ScriptedResponse(500, OpenAiWire.Error("down")));
        await harness.RunAsync(harness.OpenAi(), "Hi.");
        await harness.RunAsync(harness.OpenAi(), "Hi.");

        var failed = Assert.IsType<AgentOutcome.Failed>(await harness.RunAsync(harness.OpenAi(), "Hi."));

        Assert.Equal(NativeFailureKinds.ProviderUnavailable, failed.Kind);
        Assert.Contains("circuit is open", failed.Error, StringComparison.Ordinal);
        Assert.Equal(2, harness.Server.Requests.Count);
    }

    private Dictionary<string, object?> Settings(string provider) => provider == "openai" ? _h.OpenAi() : _h.Anthropic();

    private static string Text(string provider, string text) => provider == "openai" ? OpenAiWire.Text(text) : AnthropicWire.Text(text);

    private static string Error(string provider, string message, string type = "invalid_request_error") =>
        provider == "openai" ? OpenAiWire.Error(message, type) : AnthropicWire.Error(message, type);
}
