var builder = Host.CreateApplicationBuilder(args);

builder.AddServiceDefaults();
builder.AddWorker();
builder.AddWorkersBus();

await builder.Build().RunAsync();
