#!/usr/bin/env bash
# Overload test (issue 10): a release build on 127.0.0.1, then CONNECTIONS (48) connections sending
# heavy /v1/forward calls for DURATION (60) seconds. Reports the statuses (only 200, or 503 with
# Retry-After, are acceptable), /healthz and /readyz latency p50/p99 measured by a separate probe
# process, the server's RSS before/during/after, and small-call throughput before and after the load.
# Exits non-zero if any answer was something else. Figures go in docs/RELIABILITY.md.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-18089}
connections=${CONNECTIONS:-48}
duration=${DURATION:-60}
trap 'kill "$server" 2>/dev/null || true' EXIT

source scripts/lib/local-server.sh
start_release_server "$port" ${AUTODIFFD_ARGS:-}
echo "server: $binary, workers $(curl -fs "http://127.0.0.1:$port/readyz")"
nice -n 10 python3 scripts/load/loadgen.py overload --port "$port" --pid "$server" \
    --connections "$connections" --duration "$duration"
