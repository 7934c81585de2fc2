using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Workers.Agents.Definitions;

/// <summary>
/// YAML merge keys (<c>&lt;&lt;: *shared</c>), so agents can share settings through anchors. Keys written in the mapping
/// itself win over merged ones, and earlier merge sources over later ones, as the YAML merge-key rules say.
/// </summary>
internal static class YamlMerge
{
    private const string MergeKey = "<<";

    /// <summary>The mapping's entries with merge keys applied: its own entries first, in order, then those merged in.</summary>
    public static List<KeyValuePair<YamlNode, YamlNode>> Entries(YamlMappingNode mapping, string path, Action<string, string, YamlNode> error)
    {
        var entries = new List<KeyValuePair<YamlNode, YamlNode>>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var sources = new List<YamlMappingNode>();
        foreach (var entry in mapping.Children)
        {
            if (entry.Key is YamlScalarNode { Value: MergeKey, Style: ScalarStyle.Plain })
            {
                switch (entry.Value)
                {
                    case YamlMappingNode source:
                        sources.Add(source);
                        break;
                    case YamlSequenceNode list when list.Children.All(item => item is YamlMappingNode):
                        sources.AddRange(list.Children.Cast<YamlMappingNode>());
                        break;
                    default:
                        error(path, "the merge key '<<' takes a mapping or a list of mappings, e.g. '<<: *shared'", entry.Value);
                        break;
                }

                continue;
            }

            entries.Add(entry);
            if (entry.Key is YamlScalarNode { Value: { } name })
            {
                names.Add(name);
            }
        }

        foreach (var source in sources)
        {
            foreach (var entry in Entries(source, path, error))
            {
                if (entry.Key is YamlScalarNode { Value: { } name } && names.Add(name))
                {
                    entries.Add(entry);
                }
            }
        }

        return entries;
    }
}
