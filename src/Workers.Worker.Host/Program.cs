var builder = Host.CreateApplicationBuilder(HostArguments.WithConfigurationReadOnce(args));

builder.AddServiceDefaults();
builder.AddWorker();
builder.AddWorkersBus();

return await builder.Build().RunToExitCodeAsync();
