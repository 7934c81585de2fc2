using System.Text.Json;

using Workers.Cli.Api;

namespace Workers.Cli.Output;

/// <summary><c>--json</c>: one indented document in the API's own shape (camelCase), ready for jq.</summary>
internal static class JsonOutput
{
    static readonly JsonSerializerOptions Options = new(ApiClient.Json) { WriteIndented = true };

    public static void Write<T>(TextWriter writer, T value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteLine(JsonSerializer.Serialize(value, Options));
    }

    /// <summary>One compact document per line (JSON Lines), for streams such as <c>runs events --follow</c>.</summary>
    public static void WriteLine<T>(TextWriter writer, T value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteLine(JsonSerializer.Serialize(value, ApiClient.Json));
    }
}
