using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

using Workers.Orchestrator.Api;

namespace Workers.Cli.Api;

/// <summary>
/// The orchestrator's HTTP API as the CLI uses it. Transport failures become <see cref="OrchestratorUnreachableException"/>,
/// error answers become <see cref="ApiProblemException"/>; nothing else escapes for a user's mistake.
/// </summary>
internal sealed class ApiClient : IDisposable
{
    /// <summary>The wire format: System.Text.Json web defaults (camelCase), as the orchestrator writes it.</summary>
    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web);

    public const string DefaultUrl = "http://127.0.0.1:5080";

    readonly HttpClient http;

    /// <summary>Takes ownership of <paramref name="http"/>, whose <see cref="HttpClient.BaseAddress"/> is the API root.</summary>
    public ApiClient(HttpClient http)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(http.BaseAddress);
        this.http = http;
        BaseAddress = http.BaseAddress;
    }

    public Uri BaseAddress { get; }

    // For messages: the root as the user typed it, without the slash Create adds.
    string DisplayAddress => BaseAddress.AbsoluteUri.TrimEnd('/');

    /// <summary>A client for the API at <paramref name="baseAddress"/>, with short timeouts so a dead endpoint fails fast.</summary>
    public static ApiClient Create(Uri baseAddress)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        // Relative request paths resolve under the base only when it ends with a slash (an API behind a path prefix).
        var root = baseAddress.AbsoluteUri.EndsWith('/') ? baseAddress : new Uri(baseAddress.AbsoluteUri + "/");
        var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5) };
        return new ApiClient(new HttpClient(handler) { BaseAddress = root, Timeout = TimeSpan.FromSeconds(30) });
    }

    /// <summary>Parses an <c>--api</c> value; <paramref name="source"/> names where it came from for the error message.</summary>
    public static Uri ParseUrl(string value, string source)
    {
        if (Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
            return uri;
        throw new UsageException($"{source} '{value}' is not an http:// or https:// URL, e.g. {DefaultUrl}");
    }

    public async Task<RunAccepted> SubmitAsync(SubmitRunRequest request, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "api/runs") { Content = JsonContent.Create(request, options: Json) };
        using var response = await SendAsync(message, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<RunAccepted>(message, response, cancellationToken).ConfigureAwait(false);
    }

    public async Task<RunView> GetRunAsync(Guid runId, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, $"api/runs/{runId}");
        using var response = await SendAsync(message, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<RunView>(message, response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One page of the run's event log after <paramref name="after"/> (a position from the previous page).</summary>
    public async Task<RunEventPage> GetEventsAsync(Guid runId, string? after, CancellationToken cancellationToken)
    {
        var query = after is null ? "" : "?after=" + Uri.EscapeDataString(after);
        using var message = new HttpRequestMessage(HttpMethod.Get, $"api/runs/{runId}/events{query}");
        using var response = await SendAsync(message, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<RunEventPage>(message, response, cancellationToken).ConfigureAwait(false);
    }

    public async Task<RunPage> ListRunsAsync(RunQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        using var message = new HttpRequestMessage(HttpMethod.Get, "api/runs" + QueryString(query));
        using var response = await SendAsync(message, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<RunPage>(message, response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Asks for a cancel; the orchestrator takes the reason from the <c>reason</c> query parameter.</summary>
    public async Task<CancelOutcome> CancelAsync(Guid runId, string? reason, CancellationToken cancellationToken)
    {
        var query = string.IsNullOrEmpty(reason) ? "" : $"?reason={Uri.EscapeDataString(reason)}";
        using var message = new HttpRequestMessage(HttpMethod.Post, $"api/runs/{runId}/cancel{query}");
        using var response = await SendAsync(message, cancellationToken).ConfigureAwait(false);
        var accepted = await ReadAsync<RunAccepted>(message, response, cancellationToken).ConfigureAwait(false);
        // 202: cancel requested; 200: the run had already finished and nothing changed.
        return new CancelOutcome(accepted, response.StatusCode != HttpStatusCode.OK);
    }

    public async Task<IReadOnlyList<WorkerView>> ListWorkersAsync(CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, "api/workers");
        using var response = await SendAsync(message, cancellationToken).ConfigureAwait(false);
        return await ReadAsync<List<WorkerView>>(message, response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>True when <c>/health/ready</c> answers 200; false for any other answer or none.</summary>
    public async Task<bool> IsReadyAsync(CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, "health/ready");
        try
        {
            using var response = await SendAsync(message, cancellationToken).ConfigureAwait(false);
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (OrchestratorUnreachableException)
        {
            return false;
        }
    }

    public void Dispose() => http.Dispose();

    async Task<HttpResponseMessage> SendAsync(HttpRequestMessage message, CancellationToken cancellationToken)
    {
        try
        {
            // ResponseContentRead buffers the body here, so a connection dropped mid-body is also "unreachable".
            return await http.SendAsync(message, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new OrchestratorUnreachableException(DisplayAddress, e.Message, e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new OrchestratorUnreachableException(DisplayAddress, $"no answer within {http.Timeout.TotalSeconds:0}s", e);
        }
    }

    async Task<T> ReadAsync<T>(HttpRequestMessage request, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
            throw await ProblemAsync(request, response, cancellationToken).ConfigureAwait(false);
        try
        {
            var value = await response.Content.ReadFromJsonAsync<T>(Json, cancellationToken).ConfigureAwait(false);
            return value ?? throw new JsonException("the body is null");
        }
        catch (JsonException e)
        {
            throw new ApiProblemException((int)response.StatusCode,
                $"unexpected answer to {Describe(request)}: {e.Message} (is {DisplayAddress} a Workers orchestrator?)");
        }
    }

    static async Task<ApiProblemException> ProblemAsync(HttpRequestMessage request, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        var text = ProblemText(body);
        return new ApiProblemException(status,
            text ?? $"{Describe(request)} answered {status} {response.ReasonPhrase}".TrimEnd());
    }

    /// <summary>
    /// What an RFC 7807 problem document tells the user: its <c>detail</c>, else its <c>title</c>, plus any
    /// validation <c>errors</c>. Null when the body is not a problem document.
    /// </summary>
    internal static string? ProblemText(string body)
    {
        if (string.IsNullOrWhiteSpace(body))
            return null;
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return null;

            var text = new StringBuilder(String(root, "detail") ?? String(root, "title") ?? "");
            if (root.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object)
            {
                foreach (var field in errors.EnumerateObject())
                {
                    var messages = field.Value.ValueKind == JsonValueKind.Array
                        ? field.Value.EnumerateArray().Select(m => m.ToString())
                        : [field.Value.ToString()];
                    foreach (var message in messages)
                        text.Append(text.Length == 0 ? "" : "\n").Append(field.Name).Append(": ").Append(message);
                }
            }
            return text.Length == 0 ? null : text.ToString();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // HttpClient makes the request URI absolute once sent; show only the path, as the API documents it.
    static string Describe(HttpRequestMessage request) => request.RequestUri switch
    {
        { IsAbsoluteUri: true } uri => $"{request.Method} {uri.PathAndQuery}",
        var uri => $"{request.Method} /{uri}",
    };

    static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } s ? s : null;

    static string QueryString(RunQuery query)
    {
        var pairs = new List<string>();
        Add("state", query.State);
        Add("runtime", query.Runtime);
        Add("agent", query.Agent);
        Add("tenant", query.Tenant);
        Add("limit", query.Limit?.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Add("cursor", query.Cursor);
        return pairs.Count == 0 ? "" : "?" + string.Join('&', pairs);

        void Add(string name, string? value)
        {
            if (!string.IsNullOrEmpty(value))
                pairs.Add($"{name}={Uri.EscapeDataString(value)}");
        }
    }

}
