using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Workers.Contracts;
using Workers.Worker.Workspaces;

namespace Workers.Integration.Tests.Workspaces;

/// <summary>git must never hang a slot: a server that never answers or one that asks for a password fails the clone.</summary>
public sealed class UnresponsiveRemote_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Accepts HTTP connections on loopback and answers each with <paramref name="answer"/>, or holds it open when null.</summary>
    static async Task ServeAsync(TcpListener listener, string? answer, CancellationToken cancellationToken)
    {
        var held = new List<TcpClient>();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var client = await listener.AcceptTcpClientAsync(cancellationToken);
                held.Add(client);
                if (answer is null)
                    continue;
                var stream = client.GetStream();
                var buffer = new byte[8192];
                _ = await stream.ReadAsync(buffer, cancellationToken);
                await stream.WriteAsync(Encoding.ASCII.GetBytes(answer), cancellationToken);
                client.Close();
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            foreach (var client in held)
                client.Dispose();
        }
    }

    static async Task<WorkspaceException> CloneFromAsync(string? answer, TimeSpan timeout)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var server = ServeAsync(listener, answer, stop.Token);
        var url = $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/team/app.git";
        var directory = Path.Combine(Path.GetTempPath(), "workers-unresponsive-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            return await Assert.ThrowsAsync<WorkspaceException>(() =>
                WorkspacePreparer.PrepareAsync(directory, new WorkspaceSpec { Repository = url, Ref = "main" }, timeout, Ct));
        }
        finally
        {
            await stop.CancelAsync();
            await server;
            if (Directory.Exists(directory))
                Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_server_that_never_answers_times_out_the_clone_which_may_be_retried()
    {
        var clock = Stopwatch.StartNew();

        var failure = await CloneFromAsync(answer: null, TimeSpan.FromSeconds(2));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the clone took {clock.Elapsed}");
        Assert.Equal(WorkspaceException.TimeoutKind, failure.Kind);
        Assert.True(failure.Retryable);
        Assert.Contains("at ref 'main' took longer than 00:00:02", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_asking_for_a_password_fails_at_once_for_good()
    {
        var failure = await CloneFromAsync(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            TimeSpan.FromSeconds(30));

        Assert.Equal(WorkspaceException.AccessDeniedKind, failure.Kind);
        Assert.False(failure.Retryable);
        Assert.Contains("failed: git exited with code 128: ", failure.Message, StringComparison.Ordinal);
    }
}
