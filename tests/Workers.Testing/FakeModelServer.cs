using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Workers.Testing;

/// <summary>A scripted answer: status, JSON body, an optional delay before the headers and an optional Retry-After.</summary>
public sealed record ScriptedResponse(int Status, string Body, TimeSpan Delay = default, string? RetryAfter = null);

/// <summary>A request the fake server received.</summary>
public sealed record RecordedRequest(string Method, string Path, string? Authorization, JsonNode Body, DateTimeOffset At);

/// <summary>
/// A fake model provider on loopback: answers each request with the next scripted response (speaking the OpenAI chat
/// completions or Anthropic messages wire format, as the test scripts it) and records what it received.
/// </summary>
public sealed class FakeModelServer : IDisposable
{
    private readonly HttpListener _listener;
    private readonly ConcurrentQueue<ScriptedResponse> _script = new();
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public FakeModelServer()
    {
        // A port free a moment ago may be taken before the listener binds it (another process's outgoing connection gets it
        // as its ephemeral port): try another.
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort.Get();
            var url = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/"));
            var listener = new HttpListener();
            listener.Prefixes.Add(url.AbsoluteUri);
            try
            {
                listener.Start();
                (_listener, BaseUrl) = (listener, url);
                break;
            }
            catch (HttpListenerException)
            {
                listener.Close();
                if (attempt == 10)
                    throw;
            }
        }
        _loop = Task.Run(AcceptAsync);
    }

    /// <summary>The server's root, e.g. <c>http://127.0.0.1:PORT/</c> (OpenAI clients use <c>{root}v1</c>).</summary>
    public Uri BaseUrl { get; }

    public Uri OpenAiBaseUrl => new(BaseUrl, "v1");

    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    /// <summary>Answers requests once the script is used up (e.g. by the conversation's length); null: a 500 saying so.</summary>
    public Func<RecordedRequest, ScriptedResponse>? Responder { get; init; }

    /// <summary>Do not keep requests (a long benchmark would hold them all).</summary>
    public bool Forget { get; init; }

    public FakeModelServer Then(ScriptedResponse response)
    {
        _script.Enqueue(response);
        return this;
    }

    public FakeModelServer Then(string body) => Then(new ScriptedResponse(200, body));

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The listener was closed under the accept loop.
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => AnswerAsync(context));
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        try
        {
            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            var text = await reader.ReadToEndAsync(_stop.Token).ConfigureAwait(false);
            var request = new RecordedRequest(
                context.Request.HttpMethod,
                context.Request.Url!.AbsolutePath,
                context.Request.Headers["Authorization"],
                JsonNode.Parse(text.Length == 0 ? "{}" : text)!,
                DateTimeOffset.UtcNow);
            if (!Forget)
                _requests.Enqueue(request);
            var response = _script.TryDequeue(out var next) ? next
                : Responder is { } responder ? responder(request)
                : new ScriptedResponse(500, """{"error":{"message":"the fake server's script is exhausted","type":"server_error"}}""");
            if (response.Delay > TimeSpan.Zero)
            {
                await Task.Delay(response.Delay, _stop.Token).ConfigureAwait(false);
            }

            context.Response.StatusCode = response.Status;
            context.Response.ContentType = "application/json";
            if (response.RetryAfter is { } retryAfter)
            {
                context.Response.Headers["Retry-After"] = retryAfter;
            }

            var bytes = Encoding.UTF8.GetBytes(response.Body);
            context.Response.ContentLength64 = bytes.Length;
            await context.Response.OutputStream.WriteAsync(bytes, _stop.Token).ConfigureAwait(false);
            context.Response.Close();
        }
        catch (Exception ex) when (ex is HttpListenerException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // The client gave up (a timeout under test) or the server is stopping.
        }
    }
}

/// <summary>Bodies in the OpenAI chat completions wire format.</summary>
public static class OpenAiWire
{
    public static string Text(string text, int input = 10, int output = 5) => Completion(
        new JsonObject { ["role"] = "assistant", ["content"] = text }, "stop", input, output);

    public static string ToolCalls(int input, int output, params (string Id, string Name, object Arguments)[] calls) => Completion(
        new JsonObject
        {
            ["role"] = "assistant",
            ["content"] = null,
            ["tool_calls"] = new JsonArray([.. calls.Select(c => (JsonNode)new JsonObject
            {
                ["id"] = c.Id,
                ["type"] = "function",
                ["function"] = new JsonObject { ["name"] = c.Name, ["arguments"] = JsonSerializer.Serialize(c.Arguments) },
            })]),
        },
        "tool_calls",
        input,
        output);

    public static string Error(string message, string type = "invalid_request_error") =>
        new JsonObject { ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["code"] = null } }.ToJsonString();

    private static string Completion(JsonObject message, string finish, int input, int output) => new JsonObject
    {
        ["id"] = "chatcmpl-" + Guid.NewGuid().ToString("N"),
        ["object"] = "chat.completion",
        ["created"] = 1_700_000_000,
        ["model"] = "fake-model",
        ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = message, ["finish_reason"] = finish }),
        ["usage"] = new JsonObject { ["prompt_tokens"] = input, ["completion_tokens"] = output, ["total_tokens"] = input + output },
    }.ToJsonString();
}

/// <summary>Bodies in the Anthropic messages wire format.</summary>
public static class AnthropicWire
{
    public static string Text(string text, int input = 10, int output = 5) =>
        Message([new JsonObject { ["type"] = "text", ["text"] = text }], "end_turn", input, output);

    public static string ToolUses(int input, int output, params (string Id, string Name, object Arguments)[] calls) => Message(
        [.. calls.Select(c => (JsonNode)new JsonObject
        {
            ["type"] = "tool_use",
            ["id"] = c.Id,
            ["name"] = c.Name,
            ["input"] = JsonSerializer.SerializeToNode(c.Arguments),
        })],
        "tool_use",
        input,
        output);

    public static string Error(string message, string type = "invalid_request_error") => new JsonObject
    {
        ["type"] = "error",
        ["error"] = new JsonObject { ["type"] = type, ["message"] = message },
    }.ToJsonString();

    private static string Message(JsonNode[] content, string stop, int input, int output) => new JsonObject
    {
        ["id"] = "msg_" + Guid.NewGuid().ToString("N"),
        ["type"] = "message",
        ["role"] = "assistant",
        ["model"] = "fake-claude",
        ["content"] = new JsonArray(content),
        ["stop_reason"] = stop,
        ["stop_sequence"] = null,
        ["usage"] = new JsonObject { ["input_tokens"] = input, ["output_tokens"] = output },
    }.ToJsonString();
}
