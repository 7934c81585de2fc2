var builder = WebApplication.CreateBuilder(HostArguments.WithConfigurationReadOnce(args));

builder.AddServiceDefaults();
builder.AddOrchestrator();
builder.AddWorkersBus();

var app = builder.Build();
app.MapOrchestrator();
return await app.RunToExitCodeAsync();
