# syntax=docker/dockerfile:1
# Build: docker build -t autodiffd .    Run: docker run -p 8080:8080 autodiffd
# Proven without a Docker engine by scripts/container-smoke.sh (same build command, same runtime
# stage on a debootstrapped bookworm, run as the same non-root user).

# ---- build ---- (Package.swift needs tools 6.2 or later)
FROM swift:6.2-bookworm AS build
WORKDIR /src
# fast_float (header-only) for the request parser's number reading (Sources/CFastFloat), Dragonbox
# (header-only) for the response writer's number printing (Sources/CDragonbox); OpenBLAS
# for matmul: the binary dlopen()s it at start-up (Sources/CBLASShim), so the build needs no
# headers; installed here so the tests and benchmark can use it in this stage too.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libfast-float-dev libdragonbox-dev libopenblas-dev \
    && rm -rf /var/lib/apt/lists/*
# Resolve dependencies first so this layer is cached while only the sources change.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product autodiffd \
    && install -D "$(swift build -c release --show-bin-path)/autodiffd" /out/autodiffd

# ---- run ----
FROM debian:bookworm-slim
# The binary links the Swift runtime and Foundation statically (it needs only libc, libm and
# libstdc++ from the base image) and probes itself (`autodiffd healthcheck`), so no curl is needed;
# libopenblas0-pthread is the OpenBLAS that matmul loads at start-up (without it, a slower built-in
# kernel runs).
# Versions are not pinned: the base image's Debian release pins them, and security updates should
# flow in on rebuild.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libopenblas0-pthread \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 autodiffd \
    && useradd --system --no-create-home --uid 10001 --gid 10001 autodiffd
COPY --from=build /out/autodiffd /usr/local/bin/autodiffd
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
ENV PORT=8080
EXPOSE 8080
# `autodiffd healthcheck` finds the port the server was configured with, whichever way it was set
# (--port in the container's command, AUTODIFFD_PORT or PORT), and exits 0 when /healthz answers 200.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/autodiffd", "healthcheck"]
# SIGTERM drains in-flight requests and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/autodiffd"]
