# syntax=docker/dockerfile:1
# Build: docker build -t autodiffd .    Run: docker run -p 8080:8080 autodiffd

# ---- build ---- (Package.swift needs tools 6.2 or later)
FROM swift:6.2-bookworm AS build
# fast_float (header-only) for the request parser's number reading (Sources/CFastFloat).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libfast-float-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
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
# libstdc++ from the base image); curl serves the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home --uid 10001 autodiffd
COPY --from=build /out/autodiffd /usr/local/bin/autodiffd
USER autodiffd
ENV PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${PORT}/healthz" || exit 1
# SIGTERM drains in-flight requests and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/autodiffd"]
