namespace Workers.Cli;

/// <summary>The process exit codes; scripts branch on them, so never renumber one.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The run ended Failed, Cancelled, TimedOut or Rejected.</summary>
    public const int RunDidNotSucceed = 1;

    /// <summary><c>--timeout</c> passed before the run reached a terminal state; the run goes on.</summary>
    public const int Timeout = 2;

    /// <summary>No orchestrator answered at the API URL.</summary>
    public const int Unreachable = 3;

    /// <summary>The orchestrator refused the request (400 invalid, 404 unknown run, 5xx).</summary>
    public const int ApiError = 4;

    /// <summary><c>workers dev</c> could not start its host (address in use, a setting refused).</summary>
    public const int HostFailed = 5;

    /// <summary>Bad command line (sysexits EX_USAGE).</summary>
    public const int Usage = 64;

    /// <summary>Stopped by Ctrl+C (128 + SIGINT), like a shell.</summary>
    public const int Interrupted = 130;
}
