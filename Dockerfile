# syntax=docker/dockerfile:1
# Multi-stage build of pushagent. The build stage runs `make dist`, which
# `make test` (and so CI) runs too, so CI proves these commands work even
# where no Docker engine is available. dist holds the agent, the plugins,
# the bundled config and a compilation cache warmed by `validate`, shipped
# in the image so the container starts without compiling (a cold compile of
# a Go plugin takes seconds).

FROM golang:1.26-bookworm AS build
WORKDIR /src
# sdk is a module of its own that go.mod replaces with ./sdk: its go.mod
# must be there before the download.
COPY go.mod go.sum ./
COPY sdk/go.mod sdk/
RUN go mod download
COPY . .
ENV CGO_ENABLED=0
RUN make dist

# distroless/static: no shell, no package manager, a nonroot user; the
# agent is a static binary and needs nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
# Config and plugins live together so the relative plugin paths of the
# bundled schedules.yaml resolve; mount your own config at
# /opt/pushagent/schedules.yaml (and plugins under /opt/pushagent/plugins).
WORKDIR /opt/pushagent
COPY --from=build /src/dist/pushagent /usr/local/bin/pushagent
COPY --from=build /src/dist/app/ /opt/pushagent/
COPY --from=build --chown=nonroot:nonroot /src/dist/cache /var/cache/pushagent
USER nonroot
ENV PUSHAGENT_CACHE_DIR=/var/cache/pushagent
EXPOSE 9465
# No curl in the image: the agent checks its own /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["/usr/local/bin/pushagent", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/pushagent"]
CMD ["run", "--config", "/opt/pushagent/schedules.yaml", "--listen", ":9465"]
