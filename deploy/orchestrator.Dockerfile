# syntax=docker/dockerfile:1
# The orchestrator: run saga, timer sweeper and HTTP API. Build from the repository root:
#   docker build -f deploy/orchestrator.Dockerfile -t workers-orchestrator .

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# global.json stays out on purpose: it sets the development SDK floor (a 10.0.4xx feature band), and the sdk:10.0
# image may carry an earlier 10.0 band, which the pin would refuse. Any 10.0 SDK builds net10.0.
COPY Directory.Build.props Directory.Packages.props .editorconfig ./
COPY contracts/ contracts/
COPY src/ src/
# ReadyToRun: the assemblies ship precompiled for the image's architecture (TARGETARCH, set by BuildKit), so a fresh
# container does not spend its first seconds under load compiling (docs/benchmarks.md, W6 warm-up).
ARG TARGETARCH
# The cache mount keeps NuGet packages between builds, so changing a source file does not download everything again.
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    dotnet publish src/Workers.Orchestrator.Host/Workers.Orchestrator.Host.csproj \
      -c Release -o /app --nologo -p:UseAppHost=false -a $TARGETARCH -p:PublishReadyToRun=true

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app ./
# Agent definitions: the orchestrator validates submissions against them. Mount your own over /app/examples, or
# point Workers__Agents__Path elsewhere.
COPY examples/ ./examples/
ENV ASPNETCORE_URLS=http://+:8080 \
    Workers__Agents__Path=/app/examples/agents.yaml
EXPOSE 8080
# The non-root user every .NET 8+ image defines.
USER $APP_UID
ENTRYPOINT ["dotnet", "workers-orchestrator.dll"]
