using Workers.Cli.Output;

namespace Workers.Cli.Tests;

public sealed class AgesTests
{
    static readonly DateTimeOffset Now = new(2026, 3, 14, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(45, "45s")]
    [InlineData(60, "1m")]
    [InlineData(59 * 60 + 59, "59m")]
    [InlineData(3 * 3600, "3h")]
    [InlineData(47 * 3600, "47h")]
    [InlineData(4 * 86400, "4d")]
    public void Short_ages_use_the_largest_whole_unit(int seconds, string expected)
    {
        Assert.Equal(expected, Ages.Short(TimeSpan.FromSeconds(seconds)));
    }

    [Fact]
    public void A_time_in_the_future_reads_as_no_age_rather_than_a_negative_one()
    {
        Assert.Equal("0s", Ages.Since(Now.AddSeconds(5), Now));
    }

    [Fact]
    public void Relative_times_say_ago_for_the_past_and_in_for_the_future()
    {
        Assert.Equal("5m ago", Ages.Relative(Now.AddMinutes(-5), Now));
        Assert.Equal("in 30s", Ages.Relative(Now.AddSeconds(30), Now));
        Assert.Equal("just now", Ages.Relative(Now.AddMilliseconds(-300), Now));
    }

    [Fact]
    public void Described_times_are_utc_with_their_relative_phrase()
    {
        Assert.Equal("2026-03-14 11:55:00Z (5m ago)", Ages.Describe(Now.AddMinutes(-5), Now));
    }

    [Theory]
    [InlineData(2.14, "2.1s")]
    [InlineData(192, "3m12s")]
    [InlineData(3 * 3600 + 5 * 60, "3h05m")]
    public void Durations_keep_the_next_smaller_unit(double seconds, string expected)
    {
        Assert.Equal(expected, Ages.Duration(TimeSpan.FromSeconds(seconds)));
    }
}
