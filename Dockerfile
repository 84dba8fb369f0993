# syntax=docker/dockerfile:1
#
# Rockstar's container image: a static binary (deploy/docker/build.sh, which
# deploy/deploy_test.go runs and checks the same way) on distroless/static,
# run as the non-root user 65532 with the config in deploy/rockstar.toml.
#
#   docker build -t rockstar --build-arg VERSION=$(git describe --always) \
#     --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run --rm -p 8080:8080 -p 9090:9090 --cpus 2 rockstar
#   docker stop -t 35 CONTAINER      # more than shutdown_timeout (25s)
#
# Mount your own config over /etc/rockstar/rockstar.toml (and your sites'
# roots). The master is PID 1, so SIGTERM, the stop signal, drains the
# workers within shutdown_timeout (stop_signal_graceful's default for PID 1);
# SIGHUP (docker kill -s HUP) reloads the config.

# The Go release of go.mod's go line (deploy_test.go checks they agree).
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=
ARG REVISION=
RUN OUT=/out/rockstar VERSION=${VERSION} REVISION=${REVISION} sh deploy/docker/build.sh \
	&& mkdir -p /out/run/rockstar

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rockstar /usr/local/bin/rockstar
COPY deploy/rockstar.toml /etc/rockstar/rockstar.toml
# The control socket's directory: the rockstar user's own, mode 0700.
COPY --from=build --chown=65532:65532 --chmod=0700 /out/run/rockstar /run/rockstar
USER 65532:65532
# The [[server]] (HTTP/1.1 and h2c) and the admin endpoint (/healthz,
# /readyz, /metrics, /status) of deploy/rockstar.toml.
EXPOSE 8080 9090
STOPSIGNAL SIGTERM
# The control socket answers while the master runs.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
	CMD ["/usr/local/bin/rockstar", "status", "-c", "/etc/rockstar/rockstar.toml"]
ENTRYPOINT ["/usr/local/bin/rockstar"]
CMD ["run", "-c", "/etc/rockstar/rockstar.toml"]
