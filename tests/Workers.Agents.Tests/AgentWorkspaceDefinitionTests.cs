using Workers.Agents.Definitions;
using Workers.Contracts;

namespace Workers.Agents.Tests;

/// <summary>The <c>workspace:</c> block of an agent definition: the repository cloned into each run's workspace.</summary>
public sealed class AgentWorkspaceDefinitionTests
{
    private const string Source = "defs/agents.yaml";

    private static AgentDefinition Single(string workspaceBlock) =>
        Assert.Single(AgentCatalog.Parse(Agent(workspaceBlock), Source, "/srv/defs").Agents);

    private static IReadOnlyList<string> Errors(string workspaceBlock) =>
        Assert.Throws<AgentDefinitionException>(() => AgentCatalog.Parse(Agent(workspaceBlock), Source, "/srv/defs")).Errors;

    private static string Agent(string workspaceBlock) =>
        $"""
        agents:
          fixer:
            runtime: process
            process: {"{"} command: fix.sh {"}"}
        {workspaceBlock}
        """;

    [Fact]
    public void A_repository_and_ref_are_read_into_the_definition_and_its_spec()
    {
        var fixer = Single(
            """
                workspace:
                  repository: https://git.example.com/team/app.git
                  ref: release/1.2
            """);

        var expected = new WorkspaceSpec { Repository = "https://git.example.com/team/app.git", Ref = "release/1.2" };
        Assert.Equal(expected, fixer.Workspace);
        Assert.Equal(expected, fixer.ToAgentSpec().Workspace);
    }

    [Fact]
    public void Without_a_ref_the_default_branch_is_meant()
    {
        var fixer = Single("    workspace: { repository: 'file:///srv/git/app.git' }");

        Assert.Equal(new WorkspaceSpec { Repository = "file:///srv/git/app.git" }, fixer.Workspace);
    }

    [Fact]
    public void Without_a_workspace_block_the_agent_gets_an_empty_workspace()
    {
        Assert.Null(Single("").Workspace);
    }

    [Fact]
    public void A_local_path_is_reported_at_its_line_with_advice_to_use_file_urls()
    {
        var error = Assert.Single(Errors(
            """
                workspace:
                  repository: ./repos/app
            """));

        Assert.Equal(
            "defs/agents.yaml: agents.fixer.workspace.repository: repository './repos/app' is a local path, not a URL; write it as file:///absolute/path " +
            "(or use https://, http://, ssh://, git@host:path or file:///absolute/path) (line 6, column 19)",
            error);
    }

    [Fact]
    public void A_missing_repository_an_unknown_field_and_a_bad_ref_are_all_reported()
    {
        var errors = Errors(
            """
                workspace:
                  branch: main
                  ref: -x
            """);

        Assert.Contains(errors, e => e.StartsWith("defs/agents.yaml: agents.fixer.workspace.branch: unknown field 'branch'; a workspace has repository and ref", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("defs/agents.yaml: agents.fixer.workspace.ref: ref '-x' is not a valid branch, tag or commit name", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("defs/agents.yaml: agents.fixer.workspace.repository: missing; name the git repository", StringComparison.Ordinal));
        Assert.Equal(3, errors.Count);
    }

    [Fact]
    public void A_workspace_that_is_not_a_mapping_is_reported()
    {
        var error = Assert.Single(Errors("    workspace: https://git.example.com/app.git"));

        Assert.StartsWith("defs/agents.yaml: agents.fixer.workspace: must be a mapping, e.g. 'workspace: { repository:", error, StringComparison.Ordinal);
    }
}
