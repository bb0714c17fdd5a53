# syntax=docker/dockerfile:1
# Multi-stage build of pushagent. The build stage runs the same `make build`
# that CI runs, so CI proves these commands work; then it precompiles the
# first-party plugins into wazero's compilation cache, shipped in the image
# so the container does not spend seconds compiling at start.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0
RUN make build
# `validate` loads the config and compiles every plugin it names, filling
# the cache (same wazero version and architecture as the final image).
RUN ./bin/pushagent validate --config schedules.yaml --cache-dir /out/cache \
 && mkdir -p /out/app/plugins /out/app/examples \
 && cp bin/pushagent /out/pushagent \
 && cp plugins/*.wasm /out/app/plugins/ \
 && cp schedules.yaml /out/app/ \
 && cp -r examples/textfile /out/app/examples/

FROM gcr.io/distroless/static-debian12:nonroot
# Config and plugins live together so relative plugin paths in the
# bundled schedules.yaml resolve; mount your own at /opt/pushagent/schedules.yaml.
WORKDIR /opt/pushagent
COPY --from=build /out/pushagent /usr/local/bin/pushagent
COPY --from=build /out/app/ /opt/pushagent/
COPY --from=build --chown=nonroot:nonroot /out/cache /var/cache/pushagent
USER nonroot
ENV PUSHAGENT_CACHE_DIR=/var/cache/pushagent
EXPOSE 9465
ENTRYPOINT ["/usr/local/bin/pushagent"]
CMD ["run", "--config", "/opt/pushagent/schedules.yaml", "--listen", ":9465"]
