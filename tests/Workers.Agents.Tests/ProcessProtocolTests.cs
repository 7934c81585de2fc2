using Workers.Agents.Runtimes;

namespace Workers.Agents.Tests;

/// <summary>The JSONL protocol, line by line, without a process.</summary>
public sealed class ProcessProtocolTests
{
    private readonly RecordingSink _events = new();
    private readonly ProcessProtocol _protocol;

    public ProcessProtocolTests() => _protocol = new ProcessProtocol(_events, maxOutputLength: 1024);

    [Theory]
    [InlineData("""{"type":"message","text":"hi"}""", "hi")]
    [InlineData("""  {"text":"hi","type":"message","extra":[1,2]}  """, "hi")]
    [InlineData("""{"type":"message"}""", "")]
    public void Message_events_become_messages(string line, string text)
    {
        _protocol.Accept(line);

        Assert.Equal([new AgentEvent.Message(text)], _events.Events);
        Assert.Equal("", _protocol.Output);
    }

    [Fact]
    public void Tool_events_carry_structured_input_and_output_as_json_text()
    {
        _protocol.Accept("""{"type":"tool_started","tool":"search","input":{"query":"x"},"callId":7}""");
        _protocol.Accept("""{"type":"tool_completed","output":["a","b"],"isError":true}""");

        Assert.Equal<AgentEvent>(
            [
                new AgentEvent.ToolStarted("search", """{"query":"x"}""", "7"),
                new AgentEvent.ToolCompleted("unknown", """["a","b"]""", IsError: true),
            ],
            _events.Events);
    }

    [Fact]
    public void Tool_text_is_cut_to_a_bounded_length()
    {
        _protocol.Accept($$"""{"type":"tool_completed","tool":"cat","output":"{{new string('x', 100_000)}}"}""");

        var completed = Assert.IsType<AgentEvent.ToolCompleted>(Assert.Single(_events.Events));
        Assert.StartsWith(new string('x', ProcessProtocol.MaxToolTextLength) + "… [", completed.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"type":"usage","steps":2,"inputTokens":100,"outputTokens":50,"costUsd":0.25}""", 2, 100, 50, "0.25")]
    [InlineData("""{"type":"usage","inputTokens":-5,"costUsd":"free"}""", 0, 0, 0, "0")]
    [InlineData("""{"type":"usage","steps":1.5,"outputTokens":99999999999}""", 0, 0, 99999999999, "0")]
    public void Usage_events_are_deltas_with_bad_values_taken_as_zero(string line, int steps, long input, long output, string cost)
    {
        _protocol.Accept(line);

        Assert.Equal([new AgentEvent.Usage(steps, input, output, decimal.Parse(cost, System.Globalization.CultureInfo.InvariantCulture))], _events.Events);
    }

    [Fact]
    public void The_last_result_wins_and_a_structured_result_is_kept_as_json()
    {
        _protocol.Accept("""{"type":"result","output":"draft"}""");
        _protocol.Accept("""{"type":"result","output":{"answer":42}}""");

        Assert.Equal("""{"answer":42}""", _protocol.Output);
        Assert.Empty(_events.Events);
    }

    [Fact]
    public void The_first_error_wins_and_defaults_to_not_retryable()
    {
        _protocol.Accept("""{"type":"error","message":"first"}""");
        _protocol.Accept("""{"type":"error","message":"second","retryable":true}""");

        Assert.Equal(new AgentError("first", Retryable: false), _protocol.Error);
    }

    [Fact]
    public void An_error_without_a_message_still_fails_with_a_readable_reason()
    {
        _protocol.Accept("""{"type":"error","retryable":true}""");

        Assert.Equal(new AgentError("The agent reported an error without a message.", Retryable: true), _protocol.Error);
    }

    [Theory]
    [InlineData("plain text")]
    [InlineData("""{"type":"unknown","text":"x"}""")]
    [InlineData("""{"type":42}""")]
    [InlineData("""{"text":"no type"}""")]
    [InlineData("""["type","message"]""")]
    [InlineData("""{"type":"message","text":"unterminated""")]
    [InlineData("""{"type":"message","text":"ok"}}""")]
    public void Anything_else_is_plain_output(string line)
    {
        _protocol.Accept(line);

        Assert.Equal(line, _protocol.Output);
        Assert.Equal([new AgentEvent.Message(line)], _events.Events);
    }

    [Fact]
    public void Blank_lines_are_kept_in_the_output_but_not_sent_as_messages()
    {
        _protocol.Accept("a");
        _protocol.Accept("");
        _protocol.Accept("b");

        Assert.Equal("a\n\nb", _protocol.Output);
        Assert.Equal([new AgentEvent.Message("a"), new AgentEvent.Message("b")], _events.Events);
    }

    [Fact]
    public void Plain_output_keeps_its_last_characters_and_says_it_was_truncated()
    {
        for (var i = 0; i < 1000; i++)
        {
            _protocol.Accept($"line {i:D4}");
        }

        var output = _protocol.Output;
        var note = "[output truncated: only the last 1024 characters are kept]\n";
        Assert.StartsWith(note, output, StringComparison.Ordinal);
        Assert.Equal(note.Length + 1024, output.Length);
        Assert.EndsWith("line 0998\nline 0999", output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_long_result_keeps_its_end()
    {
        _protocol.Accept($$"""{"type":"result","output":"{{new string('a', 5000)}}END"}""");

        Assert.EndsWith("aaaEND", _protocol.Output, StringComparison.Ordinal);
        Assert.StartsWith("[output truncated", _protocol.Output, StringComparison.Ordinal);
    }
}

public sealed class LineReaderTests
{
    private static async Task<List<string>> ReadAsync(string text, int maxLineLength = 1000)
    {
        var lines = new List<string>();
        await LineReader.ReadLinesAsync(new StringReader(text), maxLineLength, lines.Add, TestContext.Current.CancellationToken);
        return lines;
    }

    [Fact]
    public async Task Lines_end_at_newlines_with_carriage_returns_removed()
    {
        Assert.Equal(["a", "", "b", "last"], await ReadAsync("a\r\n\nb\nlast"));
    }

    [Fact]
    public async Task A_line_longer_than_the_limit_is_cut_and_the_next_line_is_intact()
    {
        Assert.Equal(["xxxxx", "next"], await ReadAsync(new string('x', 100_000) + "\nnext\n", maxLineLength: 5));
    }

    [Fact]
    public async Task Lines_spanning_read_chunks_are_joined()
    {
        var line = new string('y', 40_000);

        Assert.Equal([line, line], await ReadAsync($"{line}\n{line}\n", maxLineLength: 50_000));
    }
}
