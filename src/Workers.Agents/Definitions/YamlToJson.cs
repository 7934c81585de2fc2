using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Workers.Agents.Definitions;

/// <summary>
/// Writes a YAML node as JSON, recording where each field came from so later checks can point at a line.
/// Plain scalars follow the YAML 1.2 core schema (null, booleans, numbers); quoted scalars are strings.
/// </summary>
internal static partial class YamlToJson
{
    private const string StringTag = "tag:yaml.org,2002:str";

    /// <summary>
    /// Writes <paramref name="node"/> (a mapping), adding <paramref name="extra"/> properties the file does not set.
    /// </summary>
    public static JsonElement ToObject(
        YamlMappingNode? node,
        string path,
        IReadOnlyDictionary<string, string> extra,
        IDictionary<string, Mark> positions,
        Action<string, string, YamlNode> error)
    {
        var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            var written = new HashSet<string>(StringComparer.Ordinal);
            if (node is not null)
            {
                foreach (var (key, value) in YamlMerge.Entries(node, path, error))
                {
                    if (key is not YamlScalarNode { Value: { } name })
                    {
                        error(path, "keys must be plain names", key);
                        continue;
                    }

                    written.Add(name);
                    writer.WritePropertyName(name);
                    WriteValue(writer, value, $"{path}.{name}", positions, error);
                }
            }

            foreach (var (name, value) in extra)
            {
                if (!written.Contains(name))
                {
                    writer.WriteString(name, value);
                }
            }

            writer.WriteEndObject();
        }

        using var document = JsonDocument.Parse(buffer.ToArray());
        return document.RootElement.Clone();
    }

    private static void WriteValue(
        Utf8JsonWriter writer,
        YamlNode node,
        string path,
        IDictionary<string, Mark> positions,
        Action<string, string, YamlNode> error)
    {
        positions[path] = node.Start;
        switch (node)
        {
            case YamlScalarNode scalar:
                WriteScalar(writer, scalar);
                break;

            case YamlSequenceNode sequence:
                writer.WriteStartArray();
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    WriteValue(writer, sequence.Children[i], $"{path}[{i}]", positions, error);
                }

                writer.WriteEndArray();
                break;

            case YamlMappingNode mapping:
                writer.WriteStartObject();
                foreach (var (key, value) in YamlMerge.Entries(mapping, path, error))
                {
                    if (key is not YamlScalarNode { Value: { } name })
                    {
                        error(path, "keys must be plain names", key);
                        continue;
                    }

                    writer.WritePropertyName(name);
                    WriteValue(writer, value, $"{path}.{name}", positions, error);
                }

                writer.WriteEndObject();
                break;

            default:
                writer.WriteNullValue();
                break;
        }
    }

    private static void WriteScalar(Utf8JsonWriter writer, YamlScalarNode scalar)
    {
        var text = scalar.Value ?? "";
        if (scalar.Style != ScalarStyle.Plain || (!scalar.Tag.IsEmpty && scalar.Tag.Value == StringTag))
        {
            writer.WriteStringValue(text);
            return;
        }

        switch (text)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                writer.WriteNullValue();
                return;
            case "true" or "True" or "TRUE":
                writer.WriteBooleanValue(true);
                return;
            case "false" or "False" or "FALSE":
                writer.WriteBooleanValue(false);
                return;
        }

        // Only numbers already in JSON's own form become numbers, written as typed, so "1.10" stays "1.10" and
        // "0755" stays a string: settings such as env values and args must keep their exact text.
        if (JsonNumber().IsMatch(text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number))
        {
            writer.WriteRawValue(text);
            return;
        }

        writer.WriteStringValue(text);
    }

    [GeneratedRegex(@"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex JsonNumber();
}
