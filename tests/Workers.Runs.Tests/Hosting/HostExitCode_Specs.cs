using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Workers.Runs.Tests.Hosting;

/// <summary>The exit code a host ends with, for its supervisor to tell a stop from a failure.</summary>
public sealed class HostExitCode_Specs
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_background_service_that_fails_ends_the_host_with_a_failure_code()
    {
        using var host = Build(services => services.AddHostedService<Failing>());
        var exitCode = await host.RunToExitCodeAsync(Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(HostExitCodes.BackgroundServiceFailed, exitCode);
    }

    [Fact]
    public async Task A_requested_stop_ends_the_host_with_zero()
    {
        using var host = Build(services => services.AddHostedService<Stopping>());
        var exitCode = await host.RunToExitCodeAsync(Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(0, exitCode);
    }

    static IHost Build(Action<IServiceCollection> configure)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        configure(builder.Services);
        return builder.Build();
    }

    sealed class Failing : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            await Task.Yield();
            throw new InvalidOperationException("a background service fails");
        }
    }

    sealed class Stopping(IHostApplicationLifetime lifetime) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            await Task.Yield();
            lifetime.StopApplication();
        }
    }
}
