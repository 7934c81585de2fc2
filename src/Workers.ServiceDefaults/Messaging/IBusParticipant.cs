using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Workers.ServiceDefaults.Messaging;

/// <summary>
/// A part of the process that puts consumers or sagas on the bus (the orchestrator, the worker).
/// MassTransit allows one <c>AddMassTransit</c> call per container, so each part registers a participant
/// and <c>AddWorkersBus()</c> composes them: the embedded mode runs both in one process.
/// </summary>
public interface IBusParticipant
{
    /// <summary>Registers consumers, sagas and request clients.</summary>
    void AddRegistrations(IBusRegistrationConfigurator configurator);

    /// <summary>Declares the receive endpoints this part owns, once the transport is known.</summary>
    void ConfigureEndpoints(IBusRegistrationContext context, IBusFactoryConfigurator configurator, BusTransport transport);

    /// <summary>
    /// Registers hosted services that must start after the bus and stop before it (hosted services stop in
    /// reverse order), e.g. a drain that lets in-flight work still publish its results.
    /// </summary>
    void AddServicesAfterBus(IServiceCollection services)
    {
    }
}
