using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

using Xunit;

namespace Workers.Testing;

/// <summary>
/// A RabbitMQ virtual host of its own for a test or test class, on the broker named by <see cref="TestEnvironment"/>:
/// queues, exchanges and bindings one test declares cannot clash with another's (a queue keeps its first arguments,
/// so a shared broker would leak state between tests). Deleted, with everything in it, on dispose.
/// </summary>
/// <example>
/// <code>
/// await using var vhost = await RabbitMqTestVhost.CreateAsync(ct);
/// // point the host under test at vhost.AmqpUrl (e.g. Workers__Bus__RabbitMqUrl)
/// </code>
/// Or share one per test class: <c>class MyTests(RabbitMqTestVhost vhost) : IClassFixture&lt;RabbitMqTestVhost&gt;</c>.
/// </example>
public sealed class RabbitMqTestVhost : IAsyncLifetime
{
    static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(15);

    HttpClient? http;
    Uri? amqpUrl;

    /// <summary>Prepares a vhost without touching the broker; <see cref="InitializeAsync"/> creates it (xUnit fixtures call it).</summary>
    public RabbitMqTestVhost()
    {
        Name = "workers-test-" + Guid.NewGuid().ToString("N")[..12];
    }

    /// <summary>The vhost's name, <c>workers-test-&lt;12 hex digits&gt;</c>.</summary>
    public string Name { get; }

    /// <summary>
    /// <c>RABBITMQ_URL</c> with this vhost as its path (escaped), e.g. <c>amqp://guest:guest@127.0.0.1:5672/workers-test-0a1b2c3d4e5f</c>.
    /// Use <see cref="Uri.AbsoluteUri"/> for the string form.
    /// </summary>
    public Uri AmqpUrl => amqpUrl ?? throw new InvalidOperationException("The vhost is not created yet: use RabbitMqTestVhost.CreateAsync().");

    /// <summary>Creates a vhost on the test broker and grants the AMQP user full permissions on it.</summary>
    /// <exception cref="InvalidOperationException">The environment is not set up (see <see cref="TestEnvironment"/>) or the broker refused.</exception>
    public static async Task<RabbitMqTestVhost> CreateAsync(CancellationToken cancellationToken = default)
    {
        var vhost = new RabbitMqTestVhost();
        try
        {
            await vhost.CreateCoreAsync(cancellationToken);
        }
        catch
        {
            await vhost.DisposeAsync();
            throw;
        }
        return vhost;
    }

    /// <inheritdoc cref="CreateAsync"/>
    public async ValueTask InitializeAsync() => await CreateCoreAsync(TestContext.Current.CancellationToken);

    /// <summary>
    /// Exact message and consumer counts of a queue in this vhost (an AMQP passive declare: unlike the management API's
    /// figures, which are sampled every few seconds, these are current).
    /// </summary>
    /// <exception cref="OperationInterruptedException">The queue does not exist (the broker answers 404 NOT_FOUND).</exception>
    public async Task<(uint Messages, uint Consumers)> GetQueueDepthAsync(string queue, CancellationToken cancellationToken = default)
    {
        await using var connection = await new ConnectionFactory { Uri = AmqpUrl }.CreateConnectionAsync(cancellationToken);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        var ok = await channel.QueueDeclarePassiveAsync(queue, cancellationToken);
        return (ok.MessageCount, ok.ConsumerCount);
    }

    /// <summary>
    /// GETs a management API resource of this vhost, e.g. <c>queues</c>, <c>exchanges</c>, <c>bindings</c>
    /// (<c>/api/{resource}/{vhost}</c>), or <c>queues/runs-process</c> for one queue. Message counts in the answer lag
    /// by the management sampling interval (5 s by default); use <see cref="GetQueueDepthAsync"/> for exact counts.
    /// </summary>
    public async Task<JsonElement> GetManagementResourceAsync(string resource, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(resource);
        var slash = resource.IndexOf('/', StringComparison.Ordinal);
        var path = slash < 0
            ? $"api/{resource}/{Escape(Name)}"
            : $"api/{resource[..slash]}/{Escape(Name)}/{string.Join('/', resource[(slash + 1)..].Split('/').Select(Escape))}";
        using var response = await Http.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
        await EnsureSuccessAsync(response, $"GET {path}", cancellationToken);
        return await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
    }

    /// <summary>
    /// Puts a policy on this vhost (<c>PUT /api/policies/{vhost}/{name}</c>): <paramref name="definition"/> applies to the
    /// queues whose names match <paramref name="pattern"/>, e.g. <c>{"queue-mode":"lazy"}</c>. Queues declared before or
    /// after take it alike, which is why broker settings such as a queue's mode belong in a policy.
    /// </summary>
    public async Task SetQueuePolicyAsync(string name, string pattern, JsonElement definition, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        var path = $"api/policies/{Escape(Name)}/{Escape(name)}";
        using var response = await Http.PutAsJsonAsync(new Uri(path, UriKind.Relative),
            new { pattern, definition, priority = 0, apply_to = "queues" }, cancellationToken);
        await EnsureSuccessAsync(response, $"PUT {path}", cancellationToken);
    }

    /// <summary>
    /// Takes an exclusive queue away from its owner, as a broker restart does: closes the connection that owns it (so the
    /// broker deletes the queue with the messages in it), then declares an exclusive queue of the same name, bound to
    /// nothing, on a connection of its own. The owner reconnects but cannot declare its queue again until the returned handle
    /// is disposed; whatever is routed to the old queue's bindings meanwhile is dropped.
    /// </summary>
    /// <param name="owner">The owning connection's name, if already known (<see cref="QueueOwnerAsync"/>): taken at once.</param>
    public async Task<IAsyncDisposable> TakeQueueAwayAsync(string queue, string? owner = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(queue);
        var connection = await new ConnectionFactory { Uri = AmqpUrl }.CreateConnectionAsync(cancellationToken);
        try
        {
            for (var round = 1; round <= 10; round++)
            {
                owner = round == 1 && owner is not null ? owner : await QueueOwnerAsync(queue, cancellationToken);
                if (owner is not null)
                {
                    var path = $"api/connections/{Escape(owner)}";
                    using var response = await Http.DeleteAsync(new Uri(path, UriKind.Relative), cancellationToken);
                    if (response.StatusCode != HttpStatusCode.NotFound)
                        await EnsureSuccessAsync(response, $"DELETE {path}", cancellationToken);
                }
                // The broker deletes the queue shortly after the connection; the owner's reconnection may beat this, then again.
                for (var i = 0; i < 100; i++)
                {
                    var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
                    try
                    {
                        await channel.QueueDeclareAsync(queue, durable: false, exclusive: true, autoDelete: false, cancellationToken: cancellationToken);
                        return new QueueHold(connection, channel);
                    }
                    catch (OperationInterruptedException)
                    {
                        await channel.DisposeAsync();
                        await Task.Delay(10, cancellationToken);
                    }
                }
            }
            throw new InvalidOperationException($"Could not take queue '{queue}' away from its owner in 10 rounds.");
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// The name of the connection that owns an exclusive queue, or null when there is no such queue. The management API
    /// shows the owner once it has sampled the queue (every few seconds), so a queue declared just now is asked again.
    /// </summary>
    public async Task<string?> QueueOwnerAsync(string queue, CancellationToken cancellationToken = default)
    {
        var path = $"api/queues/{Escape(Name)}/{Escape(queue)}";
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            using var response = await Http.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
            if (response.StatusCode == HttpStatusCode.NotFound)
                return null;
            await EnsureSuccessAsync(response, $"GET {path}", cancellationToken);
            var details = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
            if (details.TryGetProperty("owner_pid_details", out var owner) && owner.ValueKind == JsonValueKind.Object)
                return owner.GetProperty("name").GetString();
            if (DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"Queue '{queue}' shows no owning connection (is it exclusive?): {details}");
            await Task.Delay(250, cancellationToken);
        }
    }

    /// <summary>
    /// Cuts every client of this vhost off the broker, as a broker outage does, for this vhost alone: revokes the AMQP user's
    /// permissions on it (so reconnections are refused) and closes every connection to it. Disposing the handle grants the
    /// permissions again; the clients then reconnect at their own pace.
    /// </summary>
    /// <remarks>
    /// The connections are closed with <c>rabbitmqctl</c>, so the broker must run on this machine: the management API lists
    /// a connection only once it has sampled it, seconds late, and a revoked permission leaves open connections open.
    /// </remarks>
    public Task<IAsyncDisposable> CutOffAsync(CancellationToken cancellationToken = default) =>
        WithholdAsync(async user =>
        {
            var path = PermissionPath(user);
            using var revoke = await Http.DeleteAsync(new Uri(path, UriKind.Relative), cancellationToken);
            await EnsureSuccessAsync(revoke, $"DELETE {path}", cancellationToken);
        }, cancellationToken);

    /// <summary>
    /// Refuses every publish to <paramref name="exchange"/> on this vhost until the returned handle is disposed: once the
    /// clients have reconnected (every connection is closed first), a publish there fails with ACCESS_REFUSED, which
    /// closes the publishing channel, while everything else flows.
    /// </summary>
    public Task<IAsyncDisposable> RefusePublishesToAsync(string exchange, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(exchange);
        // RabbitMQ matches permissions as regular expressions: write anything but that exchange.
        var write = $"^(?!{System.Text.RegularExpressions.Regex.Escape(exchange)}$).*";
        return WithholdAsync(user => GrantAsync(user, cancellationToken, write), cancellationToken);
    }

    /// <summary>
    /// Takes permissions away from the vhost's user (<paramref name="restrict"/>), then closes every connection: a revoked
    /// permission leaves open connections open, and a channel caches the checks it has made. Disposing the returned handle
    /// grants every permission again; the clients then reconnect at their own pace.
    /// </summary>
    async Task<IAsyncDisposable> WithholdAsync(Func<string, Task> restrict, CancellationToken cancellationToken)
    {
        var user = UserOf(AmqpUrl);
        await restrict(user);
        var withheld = new Withheld(this, user);
        try
        {
            await CloseAllConnectionsAsync(cancellationToken);
        }
        catch
        {
            await withheld.DisposeAsync();
            throw;
        }
        return withheld;
    }

    /// <summary>Closes every connection to this vhost at once, with <c>rabbitmqctl</c> (see <see cref="CutOffAsync"/>).</summary>
    async Task CloseAllConnectionsAsync(CancellationToken cancellationToken)
    {
        var close = new System.Diagnostics.ProcessStartInfo("rabbitmqctl", ["close_all_connections", "--vhost", Name, "cut off by a test"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var rabbitmqctl = System.Diagnostics.Process.Start(close)!;
        var output = rabbitmqctl.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = rabbitmqctl.StandardError.ReadToEndAsync(cancellationToken);
        await rabbitmqctl.WaitForExitAsync(cancellationToken);
        if (rabbitmqctl.ExitCode != 0)
            throw new InvalidOperationException($"rabbitmqctl close_all_connections exited with {rabbitmqctl.ExitCode}: {await output}{await errors}");
    }

    /// <summary>Gives the permissions taken by a cut-off or a refusal back when disposed.</summary>
    sealed class Withheld(RabbitMqTestVhost vhost, string user) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await vhost.GrantAsync(user, CancellationToken.None);
    }

    /// <summary>Grants <paramref name="user"/> full permissions on this vhost, or writes matching <paramref name="write"/> only.</summary>
    async Task GrantAsync(string user, CancellationToken cancellationToken, string write = ".*")
    {
        var path = PermissionPath(user);
        using var response = await Http.PutAsJsonAsync(new Uri(path, UriKind.Relative), new { configure = ".*", write, read = ".*" }, cancellationToken);
        await EnsureSuccessAsync(response, $"PUT {path}", cancellationToken);
    }

    string PermissionPath(string user) => $"api/permissions/{Escape(Name)}/{Escape(user)}";

    sealed class QueueHold(IConnection connection, IChannel channel) : IAsyncDisposable
    {
        // The exclusive queue goes with the connection.
        public async ValueTask DisposeAsync()
        {
            await channel.DisposeAsync();
            await connection.DisposeAsync();
        }
    }

    /// <summary>Deletes the vhost and everything in it. Failures are ignored: cleanup must not hide the test's own outcome.</summary>
    public async ValueTask DisposeAsync()
    {
        if (http is null)
            return;
        try
        {
            if (amqpUrl is not null)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                using var _ = await http.DeleteAsync(new Uri($"api/vhosts/{Escape(Name)}", UriKind.Relative), cts.Token);
            }
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            // The broker may be gone (a chaos test stopped it); a leftover vhost is harmless.
        }
        finally
        {
            http.Dispose();
            http = null;
            amqpUrl = null;
        }
    }

    HttpClient Http => http ?? throw new InvalidOperationException("The vhost is not created yet: use RabbitMqTestVhost.CreateAsync().");

    async Task CreateCoreAsync(CancellationToken cancellationToken)
    {
        if (amqpUrl is not null)
            return;
        var broker = TestEnvironment.RabbitMqUrl;
        http = CreateManagementClient(TestEnvironment.RabbitMqManagementUrl);

        var vhostPath = $"api/vhosts/{Escape(Name)}";
        using (var response = await http.PutAsJsonAsync(new Uri(vhostPath, UriKind.Relative),
                   new { description = "Workers test run; deleted when the test ends" }, cancellationToken))
            await EnsureSuccessAsync(response, $"PUT {vhostPath}", cancellationToken);
        amqpUrl = WithVhost(broker, Name); // from here on DisposeAsync deletes the vhost

        foreach (var user in new[] { UserOf(broker), UserOf(TestEnvironment.RabbitMqManagementUrl) }.Distinct(StringComparer.Ordinal))
            await GrantAsync(user, cancellationToken);

        await WaitUntilConnectableAsync(amqpUrl, cancellationToken);
    }

    // The vhost starts on the node asynchronously; the first connections right after the PUT can be refused. Connecting
    // once here also proves the URL and permissions work before the test relies on them.
    static async Task WaitUntilConnectableAsync(Uri url, CancellationToken cancellationToken)
    {
        var factory = new ConnectionFactory { Uri = url, RequestedConnectionTimeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + ReadyTimeout;
        while (true)
        {
            try
            {
                await using var connection = await factory.CreateConnectionAsync(cancellationToken);
                return;
            }
            catch (BrokerUnreachableException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200, cancellationToken);
            }
            catch (BrokerUnreachableException e)
            {
                throw new InvalidOperationException(
                    $"Created vhost at {Redact(url)} but could not connect to it within {ReadyTimeout.TotalSeconds:0}s: {e.InnerException?.Message ?? e.Message}", e);
            }
        }
    }

    static HttpClient CreateManagementClient(Uri managementUrl)
    {
        // Credentials go into a header; the base address must not carry them (and must end in '/' for relative paths).
        var baseAddress = new UriBuilder(managementUrl) { UserName = "", Password = "" }.Uri;
        if (!baseAddress.AbsolutePath.EndsWith('/'))
            baseAddress = new Uri(baseAddress.AbsoluteUri + "/");
        var (user, password) = Credentials(managementUrl);
        var client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization =
            new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        return client;
    }

    static async Task EnsureSuccessAsync(HttpResponseMessage response, string request, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
            return;
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        var hint = response.StatusCode == HttpStatusCode.Unauthorized
            ? $" Check the credentials in {TestEnvironment.RabbitMqManagementUrlVariable} (the user needs the administrator tag)."
            : "";
        throw new InvalidOperationException(
            $"RabbitMQ management API: {request} answered {(int)response.StatusCode} {response.ReasonPhrase}: {Truncate(body, 500)}.{hint}");
    }

    /// <summary>The URL with its path replaced by the escaped vhost name; user info, port and query are kept.</summary>
    static Uri WithVhost(Uri broker, string vhost)
    {
        var authority = broker.GetComponents(UriComponents.SchemeAndServer | UriComponents.UserInfo, UriFormat.UriEscaped);
        return new Uri($"{authority}/{Escape(vhost)}{broker.Query}");
    }

    static (string User, string Password) Credentials(Uri url)
    {
        // RabbitMQ's defaults when a URL carries no credentials.
        if (string.IsNullOrEmpty(url.UserInfo))
            return ("guest", "guest");
        var parts = url.UserInfo.Split(':', 2);
        return (Uri.UnescapeDataString(parts[0]), parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "");
    }

    static string UserOf(Uri url) => Credentials(url).User;

    static string Escape(string segment) => Uri.EscapeDataString(segment);

    static string Redact(Uri url) => new UriBuilder(url) { Password = string.IsNullOrEmpty(url.UserInfo) ? "" : "***" }.Uri.AbsoluteUri;

    static string Truncate(string text, int length) => text.Length <= length ? text : text[..length] + "…";
}
