#!/usr/bin/env bash
# Measures autodiffd end to end: a release build on a local port, wrk posting each body in
# scripts/bench/ to /v1/backward. Prints wrk's latency distribution (read the median, 50%) and
# throughput. Needs wrk (apt-get install wrk). Results go in docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-18080}
duration=${DURATION:-10s}
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

swift build -c release --product autodiffd
python3 scripts/bench/payloads.py "$work"
"$(swift build -c release --show-bin-path)/autodiffd" --host 127.0.0.1 --port "$port" --log-level warning &
server=$!
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/healthz" > /dev/null && break
    sleep 0.1
done

for body in founding chain-1000 mlp-base64 mlp-nested; do
    echo "== $body ($(wc -c < "$work/$body.json") bytes), 2 connections, $duration"
    curl -fs -o /dev/null -w "single request: %{http_code} in %{time_total}s\n" \
        -H 'Content-Type: application/json' --data-binary "@$work/$body.json" "http://127.0.0.1:$port/v1/backward"
    BODY="$work/$body.json" wrk -t1 -c2 -d"$duration" --latency -s scripts/bench/post.lua \
        "http://127.0.0.1:$port/v1/backward" | grep -E "50%|90%|99%|Requests/sec|Non-2xx"
done
