using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

using Npgsql;

using Workers.Testing;

namespace Workers.Benchmarks;

/// <summary>What the figures were measured on, for the report: machine, OS, versions, commit.</summary>
public sealed record MachineInfo(IReadOnlyList<(string Item, string Value)> Items)
{
    public static async Task<MachineInfo> CollectAsync(HostBuild hosts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        var items = new List<(string, string)>
        {
            ("date (UTC)", TimeProvider.System.GetUtcNow().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)),
            ("cores (nproc)", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)),
            ("CPU", FirstValue("/proc/cpuinfo", "model name") ?? "?"),
            ("memory", Memory()),
            ("OS", $"{OsName()}, kernel {Read("/proc/sys/kernel/osrelease")}"),
            (".NET", $"SDK {await CommandAsync("dotnet", "--version", cancellationToken)}, runtime {RuntimeInformation.FrameworkDescription}"),
            ("RabbitMQ", await RabbitMqAsync(cancellationToken)),
            ("PostgreSQL", await PostgresAsync(cancellationToken)),
            ("client libraries", $"MassTransit {Version(typeof(MassTransit.IBus))}, RabbitMQ.Client {Version(typeof(RabbitMQ.Client.IConnection))}, Npgsql {Version(typeof(NpgsqlConnection))}"),
            ("Workers commit", await CommitAsync(cancellationToken)),
            ("hosts built", $"{hosts.BuiltAt} (Release; copied at start, so every round runs the same build)"),
        };
        return new MachineInfo(items);
    }

    static string Memory()
    {
        var kb = FirstValue("/proc/meminfo", "MemTotal")?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        return kb is null ? "?" : $"{double.Parse(kb, CultureInfo.InvariantCulture) / (1024 * 1024):0.0} GiB";
    }

    static string OsName() =>
        File.Exists("/etc/os-release")
            ? File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?["PRETTY_NAME=".Length..].Trim('"') ?? "Linux"
            : RuntimeInformation.OSDescription;

    static string? FirstValue(string file, string key) =>
        File.Exists(file)
            ? File.ReadLines(file).Where(l => l.StartsWith(key, StringComparison.Ordinal)).Select(l => l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim()).FirstOrDefault()
            : null;

    static string Read(string file) => File.Exists(file) ? File.ReadAllText(file).Trim() : "?";

    static string Version(Type type) =>
        type.Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? type.Assembly.GetName().Version?.ToString() ?? "?";

    static async Task<string> RabbitMqAsync(CancellationToken cancellationToken)
    {
        var management = TestEnvironment.RabbitMqManagementUrl;
        using var http = new HttpClient { BaseAddress = new UriBuilder(management) { UserName = "", Password = "" }.Uri, Timeout = TimeSpan.FromSeconds(10) };
        var credentials = Uri.UnescapeDataString(management.UserInfo is { Length: > 0 } info ? info : "guest:guest");
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)));
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                using var response = await http.GetAsync(new Uri("api/overview", UriKind.Relative), cancellationToken);
                using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
                var root = body.RootElement;
                return $"{root.GetProperty("rabbitmq_version").GetString()} (Erlang {root.GetProperty("erlang_version").GetString()})";
            }
            catch (Exception e) when (e is HttpRequestException or JsonException or KeyNotFoundException)
            {
                // The broker may be restarting (someone else's test); the rounds wait for it anyway.
                if (attempt == 10)
                    return $"? ({e.Message})";
                await Task.Delay(3000, cancellationToken);
            }
        }
    }

    static async Task<string> PostgresAsync(CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(TestEnvironment.PostgresConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT current_setting('server_version'), current_setting('synchronous_commit'), current_setting('fsync')", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return $"{reader.GetString(0)} (synchronous_commit={reader.GetString(1)}, fsync={reader.GetString(2)})";
    }

    static async Task<string> CommitAsync(CancellationToken cancellationToken)
    {
        var commit = await CommandAsync("git", $"-C \"{RepoPaths.Root}\" rev-parse --short HEAD", cancellationToken);
        // The hosts are built from the working tree, so say whether it differs from the commit.
        var dirty = await CommandAsync("git", $"-C \"{RepoPaths.Root}\" status --porcelain -- src contracts", cancellationToken);
        return dirty.Length == 0 ? commit : $"{commit} + uncommitted changes under src/ or contracts/";
    }

    static async Task<string> CommandAsync(string file, string arguments, CancellationToken cancellationToken)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
            var output = await process.StandardOutput.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            return output.Trim();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"? ({e.Message})";
        }
    }
}
