using Workers.Cli;

return await WorkersCli.InvokeAsync(args, CliContext.FromConsole());
