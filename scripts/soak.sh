#!/usr/bin/env bash
# Soak test (issue 10): a release build on 127.0.0.1, then CONNECTIONS (8) connections sending a mix
# of valid, invalid, heavy and tiny calls for DURATION (600) seconds, sampling the server's RSS every
# 5 s. Reports the statuses, the RSS series and the growth of its median from the first minute to the
# last. Exits non-zero on any 5xx other than 503, or an incomplete answer. Figures go in
# docs/RELIABILITY.md.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-18090}
connections=${CONNECTIONS:-8}
duration=${DURATION:-600}
trap 'kill "$server" 2>/dev/null || true' EXIT

source scripts/lib/local-server.sh
start_release_server "$port" ${AUTODIFFD_ARGS:-}
nice -n 10 python3 scripts/load/loadgen.py soak --port "$port" --pid "$server" \
    --connections "$connections" --duration "$duration"
