using System.Collections.Concurrent;
using System.Globalization;
using System.Net;

using Microsoft.Extensions.Options;

using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Workers.Agents.Runtimes.Native.Providers;

/// <summary>
/// The HTTP edge to the model providers: one <see cref="HttpClient"/> per endpoint, each behind a Polly pipeline (retry with
/// jittered backoff honouring Retry-After, a circuit breaker, a per-call timeout). A singleton, so a circuit opened by one run
/// protects the others calling the same endpoint. The SDKs' own retries are switched off; this is the only retry layer.
/// </summary>
internal sealed class ProviderEdge : IDisposable
{
    private readonly NativeRuntimeOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Lazy<HttpClient>> _clients = new(StringComparer.Ordinal);

    public ProviderEdge(IOptions<NativeRuntimeOptions> options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _time = time;
    }

    /// <summary>The client for <paramref name="endpoint"/> (scheme, host and port: one circuit per provider endpoint).</summary>
    public HttpClient ClientFor(Uri endpoint) =>
        _clients.GetOrAdd(endpoint.GetLeftPart(UriPartial.Authority), _ => new Lazy<HttpClient>(Create)).Value;

    public void Dispose()
    {
        foreach (var client in _clients.Values.Where(c => c.IsValueCreated))
        {
            client.Value.Dispose();
        }
    }

    private HttpClient Create()
    {
        var handler = new ResilienceHandler(BuildPipeline()) { InnerHandler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) } };

        // The pipeline owns the per-call timeout; HttpClient's own would cut a call short of its retries.
        return new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    private ResiliencePipeline<HttpResponseMessage> BuildPipeline()
    {
        var retryable = new PredicateBuilder<HttpResponseMessage>()
            .Handle<HttpRequestException>()
            .Handle<TimeoutRejectedException>()
            .HandleResult(static r => IsTransient(r.StatusCode));
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _time };
        if (_options.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                ShouldHandle = retryable,
                MaxRetryAttempts = _options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _options.RetryBaseDelay,
                MaxDelay = _options.MaxRetryDelay,
                DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Result)),
                OnRetry = static args =>
                {
                    // The retried response is never read: free its connection.
                    args.Outcome.Result?.Dispose();
                    return default;
                },
            });
        }

        return builder
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                ShouldHandle = retryable,
                FailureRatio = _options.CircuitBreakerFailureRatio,
                MinimumThroughput = _options.CircuitBreakerMinimumThroughput,
                SamplingDuration = _options.CircuitBreakerSamplingDuration,
                BreakDuration = _options.CircuitBreakerBreakDuration,
            })
            .AddTimeout(_options.CallTimeout)
            .Build();
    }

    /// <summary>429, 408 and 5xx are worth another try; every other status is the request's own fault.</summary>
    public static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout || (int)status >= 500;

    /// <summary>The wait a Retry-After header asks for (seconds or a date), capped; null lets the backoff decide.</summary>
    private TimeSpan? RetryAfter(HttpResponseMessage? response)
    {
        var header = response?.Headers.RetryAfter;
        var wait = header?.Delta ?? (header?.Date is { } date ? date - _time.GetUtcNow() : null);
        return wait is { } delay ? TimeSpan.FromTicks(Math.Clamp(delay.Ticks, 0, _options.MaxRetryDelay.Ticks)) : null;
    }

    /// <summary>Runs each send through the pipeline; the body is buffered first so a retry can send it again.</summary>
    private sealed class ResilienceHandler(ResiliencePipeline<HttpResponseMessage> pipeline) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Content is not null)
            {
                await request.Content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(false);
            }

            return await pipeline.ExecuteAsync(
                async (state, ct) => await state.Handler.BaseSend(state.Request, ct).ConfigureAwait(false),
                (Handler: this, Request: request),
                cancellationToken).ConfigureAwait(false);
        }

        private Task<HttpResponseMessage> BaseSend(HttpRequestMessage request, CancellationToken cancellationToken) =>
            base.SendAsync(request, cancellationToken);
    }
}

/// <summary>Maps what a provider call threw to a <see cref="ProviderException"/>.</summary>
internal static class ProviderErrors
{
    /// <summary>The exception for an HTTP error status, with the provider's own message.</summary>
    public static ProviderException FromStatus(string provider, int status, string message, Exception inner)
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"{provider} answered HTTP {status}: {message}");
        return status switch
        {
            401 or 403 => new ProviderException(NativeFailureKinds.ProviderAuth, false, text, inner),
            _ when IsTransient(status) => new ProviderException(NativeFailureKinds.ProviderUnavailable, true, text + " (after retries)", inner),
            _ => new ProviderException(NativeFailureKinds.ProviderBadRequest, false, text, inner),
        };
    }

    /// <summary>
    /// The exception for a failure without a status: transport, timeout, open circuit, or a body that does not parse.
    /// Null when <paramref name="exception"/> is none of those (cancellation, a bug) and should propagate.
    /// </summary>
    public static ProviderException? FromTransport(string provider, Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case BrokenCircuitException:
                    return new ProviderException(NativeFailureKinds.ProviderUnavailable, true, $"{provider} is unavailable: its circuit is open after repeated failures", exception);
                case TimeoutRejectedException:
                    return new ProviderException(NativeFailureKinds.ProviderUnavailable, true, $"{provider} did not answer within the call timeout (after retries)", exception);
                case HttpRequestException http:
                    return new ProviderException(NativeFailureKinds.ProviderUnavailable, true, $"{provider} could not be reached: {http.Message}", exception);
                case System.Text.Json.JsonException or FormatException or InvalidOperationException or KeyNotFoundException or ArgumentException:
                    return new ProviderException(NativeFailureKinds.ProviderBadResponse, true, $"{provider} sent a response that could not be read: {e.Message}", exception);
                default:
                    break;
            }
        }

        return null;
    }

    private static bool IsTransient(int status) => ProviderEdge.IsTransient((HttpStatusCode)status);
}
