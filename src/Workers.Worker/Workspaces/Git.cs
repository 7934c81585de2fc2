using System.Diagnostics;
using System.Text;

namespace Workers.Worker.Workspaces;

/// <summary>What one git command printed and how it ended.</summary>
/// <param name="ExitCode">The exit code; -1 when the command was stopped (see <paramref name="TimedOut"/>).</param>
/// <param name="Output">Standard output, cut at <see cref="Git.MaxOutputLength"/> characters.</param>
/// <param name="ErrorTail">The last lines of standard error, for failure reasons.</param>
/// <param name="TimedOut">The command ran out of time and was killed.</param>
public sealed record GitResult(int ExitCode, string Output, string ErrorTail, bool TimedOut)
{
    public bool Succeeded => ExitCode == 0 && !TimedOut;
}

/// <summary>
/// Runs git for the worker: no terminal, no prompts, no hooks, no templates, a scrubbed environment and a deadline, so a
/// repository that asks for a password or a server that never answers fails the command instead of hanging the slot.
/// </summary>
public static class Git
{
    /// <summary>Standard output kept per command (file lists and diff stats are read from it).</summary>
    public const int MaxOutputLength = 4_000_000;

    const int ErrorTailLength = 2_000;

    /// <summary>
    /// Runs <c>git</c> with <paramref name="arguments"/> in <paramref name="workingDirectory"/>. Never throws for a failing
    /// command; throws <see cref="OperationCanceledException"/> only when <paramref name="cancellationToken"/> fires (the
    /// process tree is killed first). A missing git binary is reported as a failed result.
    /// </summary>
    public static async Task<GitResult> RunAsync(string workingDirectory, IEnumerable<string> arguments, TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var start = new ProcessStartInfo("git")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        // Our own commands never run hooks, whatever the user's global configuration says.
        foreach (var argument in (string[])["-c", "core.hooksPath=/dev/null", "-c", "core.quotePath=false", .. arguments])
            start.ArgumentList.Add(argument);
        Scrub(start.Environment);

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return new GitResult(-1, "", $"git could not be started ({ex.Message}); install git on the worker", TimedOut: false);
        }
        process.StandardInput.Close();

        var output = ReadLimitedAsync(process.StandardOutput, MaxOutputLength);
        var error = ReadLimitedAsync(process.StandardError, 64_000, keepTail: true);
        using var deadline = new CancellationTokenSource(timeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, cancellationToken);
        try
        {
            await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            return new GitResult(-1, await output.ConfigureAwait(false), Tail(await error.ConfigureAwait(false)), TimedOut: true);
        }
        return new GitResult(process.ExitCode, await output.ConfigureAwait(false), Tail(await error.ConfigureAwait(false)), TimedOut: false);
    }

    /// <summary>
    /// Drops every <c>GIT_*</c> variable the worker inherited (a stray <c>GIT_DIR</c> or <c>GIT_WORK_TREE</c> would point
    /// git at another repository), then forbids prompts: no terminal, no askpass, ssh in batch mode. Readable English errors.
    /// </summary>
    static void Scrub(IDictionary<string, string?> environment)
    {
        foreach (var name in environment.Keys.Where(k => k.StartsWith("GIT_", StringComparison.Ordinal)).ToList())
            environment.Remove(name);
        environment.Remove("SSH_ASKPASS");
        environment["GIT_TERMINAL_PROMPT"] = "0";
        environment["GIT_ASKPASS"] = "true";
        environment["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes -o ConnectTimeout=30";
        environment["LC_ALL"] = "C";
        environment["LANGUAGE"] = "C";
    }

    static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    /// <summary>Reads to the end, keeping at most <paramref name="max"/> characters (the head, or with <paramref name="keepTail"/> the tail).</summary>
    static async Task<string> ReadLimitedAsync(StreamReader reader, int max, bool keepTail = false)
    {
        var text = new StringBuilder();
        var buffer = new char[8192];
        int read;
        while ((read = await reader.ReadAsync(buffer, CancellationToken.None).ConfigureAwait(false)) > 0)
        {
            if (keepTail)
            {
                text.Append(buffer, 0, read);
                if (text.Length > max * 2)
                    text.Remove(0, text.Length - max);
            }
            else if (text.Length < max)
            {
                text.Append(buffer, 0, Math.Min(read, max - text.Length));
            }
        }
        return text.ToString();
    }

    static string Tail(string error)
    {
        var trimmed = error.Trim();
        return trimmed.Length <= ErrorTailLength ? trimmed : "…" + trimmed[^ErrorTailLength..];
    }
}
