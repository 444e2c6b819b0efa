#!/usr/bin/env bash
# The framework's own ceiling for issue 7's small calls: a Hummingbird hello world
# (scripts/bench/hello-world, the same Hummingbird as autodiffd) and autodiffd, alternated ROUNDS
# times (default 3), each measured with wrk for DURATION (default 4s). Prints one line per figure:
# requests/s on 16 connections for `GET /` and `GET /healthz`, and for `POST /echo` and
# `POST /v1/backward` of the `tiny` body; the median on one connection of the echo and of the
# call for `tiny` and `small_mlp`. Results go in docs/PERFORMANCE.md.
#
#   BIN=/path/to/autodiffd scripts/bench-ceiling.sh      (builds the hello world in its own folder)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:?set BIN to a release autodiffd}
rounds=${ROUNDS:-3}
duration=${DURATION:-4s}
hello_port=18099
port=${PORT:-18098}
work=$(mktemp -d)
server=""
hello=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; [ -n "$hello" ] && kill "$hello" 2>/dev/null; rm -rf "$work"' EXIT

(cd scripts/bench/hello-world && swift build -c release >&2)
"scripts/bench/hello-world/.build/release/hello-world" "$hello_port" > /dev/null 2>&1 &
hello=$!
python3 scripts/bench/payloads.py "$work" tiny small_mlp
source scripts/lib/local-server.sh
start_server "$bin" "$port"
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$hello_port/" > /dev/null && break; sleep 0.1; done

rate() { wrk -t2 -c16 -d"$duration" "$1" | awk '/Requests\/sec/ {print $2}'; }
post() {  # URL BODY CONNECTIONS -> "median_ms req_s"
    local threads=1
    [ "$3" -gt 1 ] && threads=2
    BODY="$work/$2.json" wrk -t"$threads" -c"$3" -d"$duration" -s scripts/bench/post.lua "$1" \
        | awk '/^RESULT/ {print $4, $6}'
}
line() { printf '  %-44s %s\n' "$1" "$2"; }
for round in $(seq 1 "$rounds"); do
    echo "round $round"
    line "hello world GET /, 16 conns" "$(rate "http://127.0.0.1:$hello_port/") req/s"
    line "autodiffd GET /healthz, 16 conns" "$(rate "http://127.0.0.1:$port/healthz") req/s"
    line "hello world POST /echo tiny, 16 conns" "$(post "http://127.0.0.1:$hello_port/echo" tiny 16 | cut -d' ' -f2) req/s"
    line "autodiffd tiny, 16 conns" "$(post "http://127.0.0.1:$port/v1/backward" tiny 16 | cut -d' ' -f2) req/s"
    for body in tiny small_mlp; do
        line "hello world POST /echo $body, 1 conn" "$(post "http://127.0.0.1:$hello_port/echo" "$body" 1 | cut -d' ' -f1) ms"
        line "autodiffd $body, 1 conn" "$(post "http://127.0.0.1:$port/v1/backward" "$body" 1 | cut -d' ' -f1) ms"
    done
done
