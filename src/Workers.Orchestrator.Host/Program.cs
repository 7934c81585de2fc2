var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddOrchestrator();
builder.AddWorkersBus();

var app = builder.Build();
app.MapOrchestrator();
await app.RunAsync();
