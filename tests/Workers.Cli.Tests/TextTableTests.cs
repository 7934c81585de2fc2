using Workers.Cli.Output;

namespace Workers.Cli.Tests;

public sealed class TextTableTests
{
    [Fact]
    public void Columns_are_padded_to_their_widest_cell_with_two_spaces_between()
    {
        var text = new TextTable("ID", "STATE").AddRow("a", "Running").AddRow("abcdef", "Queued").ToString();

        Assert.Equal(
            """
            ID      STATE
            a       Running
            abcdef  Queued

            """.ReplaceLineEndings(), text);
    }

    [Fact]
    public void Columns_marked_with_a_trailing_angle_bracket_are_right_aligned()
    {
        var text = new TextTable("AGENT", "PRIO>").AddRow("echo", "9").AddRow("sleep", "10").ToString();

        Assert.Equal(
            """
            AGENT  PRIO
            echo      9
            sleep    10

            """.ReplaceLineEndings(), text);
    }

    [Fact]
    public void Lines_carry_no_trailing_blanks()
    {
        var lines = new TextTable("A", "B").AddRow("long value", "").ToString().ReplaceLineEndings("\n").Split('\n');

        Assert.All(lines, line => Assert.Equal(line.TrimEnd(), line));
    }

    [Fact]
    public void Empty_cells_show_a_dash_and_line_breaks_inside_a_cell_become_spaces()
    {
        var text = new TextTable("WORKER", "NOTE").AddRow(null, "two\nlines").ToString();

        Assert.Contains("-       two lines", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_row_with_the_wrong_number_of_cells_is_refused()
    {
        Assert.Throws<ArgumentException>(() => new TextTable("A", "B").AddRow("only one"));
    }
}
