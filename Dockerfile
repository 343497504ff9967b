# syntax=docker/dockerfile:1
#
# nergateway: the failover gateway's image and, as a separate target, the
# Azure Language region emulator's (tests, the demo stack). From the
# repository root:
#
#   docker build -t nergateway:dev --build-arg VERSION=$(git describe --always) .
#   docker build -t nergateway-emulator:dev --target emulator .
#
# The final stages are distroless (no shell, no package manager, no curl) and
# runs as the unprivileged "nonroot" user (uid 65532). Everything the process
# needs is in the static binaries; configuration comes from the environment
# (see docs/DESIGN.md, "Configuration").

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Dependencies first, so a code change does not invalidate the module cache
# layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# CGO off: static binaries that run on distroless/static, which has no libc.
# -trimpath keeps build paths out of panics and the binary.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags="-s -w -X nergateway/gateway.version=${VERSION}" -o /out/gateway ./cmd/gateway && \
    CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags="-s -w" -o /out/emulator ./cmd/emulator

# The emulator has an unauthenticated fault-injection API: it lives in its
# own image (docker build --target emulator), never in the gateway's.
FROM gcr.io/distroless/static-debian12:nonroot AS emulator
COPY --from=build /out/emulator /emulator
USER nonroot:nonroot
EXPOSE 5001 6001
ENTRYPOINT ["/emulator"]

# The gateway: the last stage, so a plain `docker build` makes it.
FROM gcr.io/distroless/static-debian12:nonroot AS gateway
COPY --from=build /out/gateway /gateway
USER nonroot:nonroot
# No GOMEMLIMIT: the gateway sets the Go runtime's soft memory limit itself
# from GATEWAY_MAX_BUFFERED_BYTES (+ JOB_RESCUE_MAX_BYTES with
# JOB_RESCUE=memory) + 64MiB, and logs it; a GOMEMLIMIT set here would win
# and stop following the budget. A container memory limit should leave
# 96MiB or more above it (deployments/k8s: 320Mi over 192MiB).
# New goroutines start at Go's smallest stack, not the average the runtime
# last measured: every request starts a small goroutine beside its deep one
# (net/http's reader that notices a client hanging up), which otherwise
# starts at the deep ones' average. 9-10 MiB less at 1,000 connections, no
# measurable CPU per request (docs/benchmarks.md, "Memory at 1,000
# connections"). Go 1.26 rejects this setting in //go:debug, so it is set
# here and in deployments/k8s; keep it when you add to GODEBUG.
ENV GODEBUG=adaptivestackstart=0
# 8080: clients (GATEWAY_ADDR); 9090: operations (GATEWAY_OPS_ADDR).
EXPOSE 8080 9090
# No curl in distroless: the gateway checks itself. `gateway healthcheck`
# GETs /healthz on GATEWAY_ADDR over loopback and exits 0 on 200, 1 otherwise.
# Liveness only: readiness (/readyz) belongs to the load balancer, so a region
# outage does not make the container "unhealthy" and get it restarted.
HEALTHCHECK --interval=10s --timeout=4s --start-period=5s --retries=3 \
    CMD ["/gateway", "healthcheck"]
ENTRYPOINT ["/gateway"]
