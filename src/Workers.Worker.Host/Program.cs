var builder = Host.CreateApplicationBuilder(HostArguments.WithConfigurationReadOnce(args));

builder.AddServiceDefaults();
builder.AddWorker();
builder.AddWorkersBus();

await builder.Build().RunAsync();
