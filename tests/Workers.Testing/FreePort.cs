using System.Net;
using System.Net.Sockets;

namespace Workers.Testing;

/// <summary>Free TCP ports on the loopback interface, for servers a test starts (an orchestrator's HTTP API, a fake LLM).</summary>
public static class FreePort
{
    /// <summary>
    /// A port that was free on 127.0.0.1 a moment ago (the OS picks it). Another process could take it before the
    /// test binds it; ports from the ephemeral range are reused rarely enough for tests.
    /// </summary>
    public static int Get()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }
}
