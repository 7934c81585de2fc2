using System.Text.Json;

using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

using Workers.Agents.Runtimes.Native.Providers;

namespace Workers.Agents.Runtimes.Native.Tools;

/// <summary>
/// The MCP servers of one attempt, started through the official ModelContextProtocol SDK: stdio servers run in the workspace
/// with a minimal environment plus their definition's <c>env</c> (not the worker's), HTTP servers are connected to. Their tools are offered as <c>server__tool</c>. Disposing stops them.
/// </summary>
internal sealed class McpToolSource : IAsyncDisposable
{
    private const int MaxServerNameLength = 20;

    private readonly List<McpClient> _clients = [];

    private readonly TimeSpan _callTimeout;

    private McpToolSource(TimeSpan callTimeout)
    {
        _callTimeout = callTimeout;
    }

    public List<IAgentTool> Tools { get; } = [];

    /// <summary>Server names end up in tool names, which providers limit to 64 characters of [a-zA-Z0-9_-].</summary>
    public static bool IsValidServerName(string name) =>
        name.Length is > 0 and <= MaxServerNameLength && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    /// <summary>Starts every server; the first that fails throws <see cref="McpServerException"/> naming it, after stopping the others.</summary>
    public static async Task<McpToolSource> StartAsync(
        IReadOnlyList<McpServerSettings> servers, string workspace, string? baseDirectory, TimeSpan startTimeout, TimeSpan callTimeout, CancellationToken cancellationToken)
    {
        var source = new McpToolSource(callTimeout);
        try
        {
            foreach (var server in servers)
            {
                await source.StartAsync(server, workspace, baseDirectory, startTimeout, cancellationToken).ConfigureAwait(false);
            }

            return source;
        }
        catch
        {
            await source.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            try
            {
                await client.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or OperationCanceledException)
            {
                // A server that already died has nothing left to stop.
            }
        }
    }

    private async Task StartAsync(McpServerSettings server, string workspace, string? baseDirectory, TimeSpan startTimeout, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(startTimeout);
        McpClient? client = null;
        try
        {
            // Not the worker's environment (its secrets): the SDK's minimal default set plus the definition's own env.
            var environment = StdioClientTransportOptions.GetDefaultEnvironmentVariables();
            foreach (var (name, value) in server.Env)
            {
                environment[name] = value;
            }

            IClientTransport transport = server.Url is { } url
                ? new HttpClientTransport(new HttpClientTransportOptions { Endpoint = url, Name = server.Name })
                : new StdioClientTransport(new StdioClientTransportOptions
                {
                    Name = server.Name,
                    Command = ResolveCommand(server.Command!, baseDirectory),
                    Arguments = [.. server.Args],
                    WorkingDirectory = workspace,
                    InheritEnvironmentVariables = false,
                    EnvironmentVariables = environment,
                });
            client = await McpClient.CreateAsync(transport, cancellationToken: timeout.Token).ConfigureAwait(false);
            _clients.Add(client);
            foreach (var tool in await client.ListToolsAsync(cancellationToken: timeout.Token).ConfigureAwait(false))
            {
                Tools.Add(new McpTool(server.Name, tool, client, _callTimeout));
            }
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            if (client is not null && !_clients.Contains(client))
            {
                await client.DisposeAsync().ConfigureAwait(false);
            }

            var reason = timeout.IsCancellationRequested ? $"it did not start within {startTimeout.TotalSeconds:0.#} seconds" : ex.Message;
            throw new McpServerException($"MCP server '{server.Name}' failed to start: {reason}", ex);
        }
    }

    /// <summary>A relative command with a directory part resolves against the definitions file's directory; a bare name is looked up on PATH.</summary>
    private static string ResolveCommand(string command, string? baseDirectory) =>
        baseDirectory is not null && !Path.IsPathRooted(command) && command.Contains('/', StringComparison.Ordinal)
            ? Path.GetFullPath(Path.Combine(baseDirectory, command))
            : command;

    private sealed class McpTool(string server, McpClientTool tool, McpClient client, TimeSpan timeout) : IAgentTool
    {
        public ToolDefinition Definition { get; } = new(
            $"{server}__{tool.Name}",
            string.IsNullOrWhiteSpace(tool.Description) ? $"Tool '{tool.Name}' of the MCP server '{server}'." : tool.Description,
            tool.JsonSchema);

        public async Task<ToolOutput> InvokeAsync(JsonElement arguments, CancellationToken cancellationToken)
        {
            var args = arguments.ValueKind == JsonValueKind.Object
                ? arguments.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone(), StringComparer.Ordinal)
                : [];
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(timeout);
            CallToolResult result;
            try
            {
                result = await client.CallToolAsync(tool.Name, args, cancellationToken: deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new ToolException($"the MCP server '{server}' did not answer within {timeout.TotalSeconds:0.#} seconds");
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is not OutOfMemoryException)
            {
                throw new ToolException($"the MCP server '{server}' failed the call: {ex.Message}");
            }

            var text = string.Join('\n', result.Content.Select(c => c is TextContentBlock t ? t.Text : $"[{c.Type} content]"));
            return new ToolOutput(text, result.IsError == true);
        }
    }
}

/// <summary>An MCP server of the agent's definition could not be started; the message names it.</summary>
internal sealed class McpServerException(string message, Exception inner) : Exception(message, inner);
