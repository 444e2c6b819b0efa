#!/usr/bin/env bash
# The end-to-end benchmark of issues 7 and 11: a release build of autodiffd on a local port, each
# body of scripts/bench/payloads.py posted to /v1/backward with wrk. Prints one Markdown table:
# median and p99 latency of sequential calls on one keep-alive connection, and requests/s on 16
# connections for the small bodies. Needs wrk (apt-get install wrk). Results go in docs/PERFORMANCE.md.
#
#   scripts/bench.sh                       all workloads, 10 s each
#   DURATION=5s scripts/bench.sh tiny      some workloads
#   BIN=/path/to/autodiffd scripts/bench.sh  an existing binary (e.g. an older build, to compare)
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-18080}
duration=${DURATION:-10s}
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(tiny small_mlp json_matmul big_base64 big_decimal deep_chain wide_mlp chain_100k)
# Throughput is measured for the calls small enough that 16 at once say something about the server.
throughput_for=" tiny small_mlp "
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

bin=${BIN:-}
if [ -z "$bin" ]; then
    swift build -c release --product autodiffd >&2
    bin="$(swift build -c release --show-bin-path)/autodiffd"
fi
python3 scripts/bench/payloads.py "$work" "${workloads[@]}"
source scripts/lib/local-server.sh
# chain_100k has 100,000 nodes, past the default --max-nodes (10,000).
start_server "$bin" "$port" --max-nodes 100000

url="http://127.0.0.1:$port/v1/backward"
# wrk's RESULT line (see post.lua) for one body, connection count and duration.
measure() {
    BODY="$work/$1.json" wrk -t"$3" -c"$2" -d"$duration" --timeout 30s -s scripts/bench/post.lua "$url" \
        | grep '^RESULT'
}

echo "| workload | body | median (1 conn) | p99 (1 conn) | req/s (16 conns) | errors |"
echo "|---|---|---|---|---|---|"
for name in "${workloads[@]}"; do
    status=$(curl -s -o /dev/null -w "%{http_code}" -H 'Content-Type: application/json' \
        --data-binary "@$work/$name.json" "$url")
    if [ "$status" != 200 ]; then
        echo "| \`$name\` | | HTTP $status | | | |"
        continue
    fi
    read -r _ _ latency_errors median p99 _ <<< "$(measure "$name" 1 1)"
    rate="—"
    rate_errors=0
    if [[ "$throughput_for" == *" $name "* ]]; then
        read -r _ _ rate_errors _ _ rate <<< "$(measure "$name" 16 2)"
        rate=$(printf "%.0f" "$rate")
    fi
    size=$(wc -c < "$work/$name.json")
    echo "| \`$name\` | $((size / 1024)) KiB | $median ms | $p99 ms | $rate | $((latency_errors + rate_errors)) |"
done
