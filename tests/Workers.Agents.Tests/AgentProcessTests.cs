using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

using Workers.Agents.Runtimes;

namespace Workers.Agents.Tests;

/// <summary>
/// Both ways an agent's process is started behave alike: spawned (posix_spawn, where glibc allows) and through
/// <see cref="Process"/> behind setsid(1) (elsewhere). Pipes, exit codes, the process group, an agent that cannot be executed.
/// </summary>
public sealed class AgentProcessTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private static CancellationToken TestCancellation => TestContext.Current.CancellationToken;

    public static TheoryData<string> Launchers => ["spawned", "managed"];

    [Theory]
    [MemberData(nameof(Launchers))]
    public async Task Stdin_reaches_the_agent_and_its_stdout_stderr_and_exit_code_come_back(string launcher)
    {
        var agent = _directory.WriteScript("agent.sh", "read -r line; echo \"out:$line\"; echo \"err:$line\" >&2; exit 3\n");
        using var process = Start(launcher, agent);

        await process.StandardInput.WriteLineAsync("héllo".AsMemory(), TestCancellation);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(TestCancellation);
        var error = process.StandardError.ReadToEndAsync(TestCancellation);
        await process.WaitForExitAsync(TestCancellation).WaitAsync(TestData.Guard, TestCancellation);

        Assert.True(process.HasExited);
        Assert.Equal(3, process.ExitCode);
        Assert.Equal("out:héllo\n", await output);
        Assert.Equal("err:héllo\n", await error);
    }

    [Theory]
    [MemberData(nameof(Launchers))]
    public async Task The_agent_leads_a_session_and_process_group_of_its_own_in_its_working_directory(string launcher)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && AgentSupervisor.GroupsAvailable, "needs Linux with setsid (util-linux)");
        // Fields 5 and 6 of /proc/PID/stat: process group and session.
        var agent = _directory.WriteScript("agent.sh", "echo \"$$ $(cut -d' ' -f5,6 /proc/$$/stat) $PWD\"\n");
        using var process = Start(launcher, agent);
        process.StandardInput.Close();

        var printed = (await process.StandardOutput.ReadToEndAsync(TestCancellation).WaitAsync(TestData.Guard, TestCancellation)).Trim().Split(' ');
        await process.WaitForExitAsync(TestCancellation).WaitAsync(TestData.Guard, TestCancellation);

        var pid = process.Id.ToString(CultureInfo.InvariantCulture);
        Assert.Equal([pid, pid, pid, _directory.Workspace], printed);
        Assert.Equal(process.Id, process.GroupId);
    }

    [Theory]
    [MemberData(nameof(Launchers))]
    public async Task An_agent_killed_by_a_signal_exits_with_128_plus_the_signal(string launcher)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "signals");
        var agent = _directory.WriteScript("agent.sh", "echo ready; exec sleep 300\n");
        using var process = Start(launcher, agent);
        Assert.Equal("ready", await process.StandardOutput.ReadLineAsync(TestCancellation).AsTask().WaitAsync(TestData.Guard, TestCancellation));

        process.KillTree();
        await process.WaitForExitAsync(TestCancellation).WaitAsync(TestData.Guard, TestCancellation);

        Assert.Equal(128 + ProcessTree.SigKill, process.ExitCode);
        Assert.False(TestData.IsRunning(process.Id));
    }

    [Fact]
    public void A_spawned_agent_that_cannot_be_executed_is_refused_at_start_with_the_reason()
    {
        Assert.SkipUnless(SpawnedAgentProcess.Supported, "spawns with posix_spawn (Linux, glibc 2.36)");
        var missingInterpreter = _directory.WriteExecutable("agent.sh", "#!/no/such/interpreter\necho never\n");

        var missing = Assert.Throws<Win32Exception>(() => SpawnedAgentProcess.Start(StartInfo(Path.Combine(_directory.Path, "absent"))));
        var unrunnable = Assert.Throws<Win32Exception>(() => SpawnedAgentProcess.Start(StartInfo(missingInterpreter)));

        Assert.Equal("No such file or directory", missing.Message);
        Assert.Equal("No such file or directory", unrunnable.Message);
    }

    [Fact]
    public async Task A_managed_agent_that_cannot_be_executed_is_told_apart_by_setsids_message()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && AgentSupervisor.GroupsAvailable, "needs Linux with setsid (util-linux)");
        var absent = Path.Combine(_directory.Path, "absent");
        using var process = ManagedAgentProcess.Start(StartInfo(absent));
        process.StandardInput.Close();

        var error = await process.StandardError.ReadToEndAsync(TestCancellation).WaitAsync(TestData.Guard, TestCancellation);
        await process.WaitForExitAsync(TestCancellation).WaitAsync(TestData.Guard, TestCancellation);

        Assert.True(process.ExecFailureOnStderr);
        Assert.Equal($"{absent}: No such file or directory", AgentSupervisor.ExecFailure(process.ExitCode, error, absent));
    }

    private AgentProcess Start(string launcher, string executable)
    {
        var startInfo = StartInfo(executable);
        if (launcher == "spawned")
        {
            Assert.SkipUnless(SpawnedAgentProcess.Supported, "spawns with posix_spawn (Linux, glibc 2.36)");
            return SpawnedAgentProcess.Start(startInfo);
        }

        return ManagedAgentProcess.Start(startInfo);
    }

    private ProcessStartInfo StartInfo(string executable)
    {
        Directory.CreateDirectory(_directory.Workspace);
        return new ProcessStartInfo(executable)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _directory.Workspace,
        };
    }
}
