using Xunit;

namespace Workers.Testing;

/// <summary>Log sinks that write to xUnit's per-test output (shown for failed tests).</summary>
public static class TestOutput
{
    /// <summary>
    /// A sink writing to the output of the test running now (captured at the call: child-process output arrives on
    /// other threads, where <see cref="TestContext.Current"/> does not flow). Writes after the test ended are dropped.
    /// Null outside a test.
    /// </summary>
    public static Action<string>? ForCurrentTest()
    {
        var output = TestContext.Current.TestOutputHelper;
        if (output is null)
            return null;
        return line =>
        {
            try
            {
                output.WriteLine(line);
            }
            catch (InvalidOperationException)
            {
                // The test has finished; its output is closed.
            }
        };
    }
}
