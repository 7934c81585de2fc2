using System.Reflection;
using System.Text;
using Workers.Contracts;

namespace Workers.Runs.Tests.Contracts;

/// <summary>
/// The message contracts are the wire format producers depend on: a type's namespace and name are its identity and a
/// member's name is its JSON field. This pins them; a change must be deliberate (add members only) and show up in review.
/// </summary>
public sealed class ContractSurface_Specs
{
    static string ApprovedPath => Path.Combine(AppContext.BaseDirectory, "Contracts", "contracts.approved.txt");

    internal static string Describe()
    {
        var text = new StringBuilder();
        foreach (var type in typeof(SubmitRun).Assembly.GetExportedTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            text.Append(type.FullName).Append('\n');
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.Name, StringComparer.Ordinal))
                text.Append("  ").Append(property.Name).Append(": ").Append(Name(property.PropertyType)).Append('\n');
        }
        return text.ToString();
    }

    static string Name(Type type) => type.IsGenericType
        ? $"{type.Name[..type.Name.IndexOf('`', StringComparison.Ordinal)]}<{string.Join(", ", type.GetGenericArguments().Select(Name))}>"
        : type.Name;

    [Fact]
    public void The_public_contract_surface_matches_the_approved_one()
    {
        var actual = Describe();
        var approved = File.ReadAllText(ApprovedPath).ReplaceLineEndings("\n");
        Assert.True(approved == actual,
            "The contracts changed. If intended (members added, nothing renamed or removed), copy this into tests/Workers.Runs.Tests/Contracts/contracts.approved.txt:\n" + actual);
    }
}
