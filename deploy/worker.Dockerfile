# syntax=docker/dockerfile:1
# A worker: claims runs and executes agents. Build from the repository root:
#   docker build -f deploy/worker.Dockerfile -t workers-worker .

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
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    dotnet publish src/Workers.Worker.Host/Workers.Worker.Host.csproj \
      -c Release -o /app --nologo -p:UseAppHost=false -a $TARGETARCH -p:PublishReadyToRun=true

# The worker host needs no ASP.NET Core: the plain runtime image is enough.
FROM mcr.microsoft.com/dotnet/runtime:10.0
# Process agents are often scripts (examples/agents/*.sh are bash). The default (Ubuntu) image has bash; this line
# makes a switch to a chiseled or Alpine base fail here, at build time, instead of at the first run.
RUN bash --version >/dev/null
# Run workspaces clone git repositories (docs/workspaces.md): git, ssh for ssh:// and git@host:path, CA certificates for https.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
COPY examples/ ./examples/
ENV Workers__Agents__Path=/app/examples/agents.yaml
# Agent workspaces go under the temp directory (Workers__Worker__WorkspaceRoot to move them), writable by this user.
USER $APP_UID
ENTRYPOINT ["dotnet", "workers-worker.dll"]
