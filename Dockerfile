# syntax=docker/dockerfile:1
# Multi-stage build of pushagent. The build stage runs `make dist`, which
# makes every file of the image: the agent, the plugins, the bundled
# config, a compilation cache warmed by `validate` (a cold compile of a Go
# plugin takes seconds; with the cache the container starts without
# compiling), and the few system files a static binary needs (CA
# certificates, a passwd entry for the non-root user).
#
# `make image` (run by `make test`, so by CI) builds this same file with
# the `dist` stage replaced by the `make dist` output of the checkout:
#   podman build --format docker --build-context dist=dist .
# (`docker buildx build --build-context dist=dist .` does the same.) The
# final stage CI runs is the one below, byte for byte, without pulling
# anything from a registry.

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

# The image's files, laid out as `make dist` writes them (dist/).
FROM scratch AS dist
COPY --from=build /src/dist/ /

# From scratch: the agent is a static binary and needs nothing but the
# files dist/root holds (/etc/passwd and /etc/group naming the non-root
# user 65532, /etc/ssl/certs/ca-certificates.crt for HTTPS gateways and
# plugins). No shell, no package manager. Why not distroless:
# docs/RATIONALE.md.
FROM scratch
COPY --from=dist /root/ /
COPY --from=dist /pushagent /usr/local/bin/pushagent
# Config and plugins live together so the relative plugin paths of the
# bundled schedules.yaml resolve; mount your own config at
# /opt/pushagent/schedules.yaml (and plugins under /opt/pushagent/plugins).
COPY --from=dist /app/ /opt/pushagent/
COPY --from=dist --chown=65532:65532 /cache/ /var/cache/pushagent/
# An empty directory the agent owns, for its state: the disk buffers of
# remote_write outputs (buffer: {dir: /var/lib/pushagent/<output>}).
COPY --from=dist --chown=65532:65532 /state/ /var/lib/pushagent/
WORKDIR /opt/pushagent
USER 65532:65532
ENV PUSHAGENT_CACHE_DIR=/var/cache/pushagent
# The two directories the agent writes to. The compilation cache: a plugin
# that is not in the warm cache (your own, or a changed one) is compiled
# once and stored there. The state: remote_write buffers, which hold what
# the receiver has not accepted yet. As volumes they stay writable under
# --read-only; the cache starts as a copy of the warm cache, and the state
# must outlive the container for a restart to deliver what it buffered.
VOLUME /var/cache/pushagent
VOLUME /var/lib/pushagent
EXPOSE 9465
# No curl in the image: the agent checks its own /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["/usr/local/bin/pushagent", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/pushagent"]
CMD ["run", "--config", "/opt/pushagent/schedules.yaml", "--listen", ":9465"]
