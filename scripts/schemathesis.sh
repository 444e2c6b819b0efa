#!/usr/bin/env bash
# Runs schemathesis against a release server on 127.0.0.1: requests generated from
# docs/openapi.json (valid and invalid ones), and no answer may be a 5xx or differ from the
# document's schema for its status. Bounded: SCHEMATHESIS_EXAMPLES cases per operation (default 50),
# a fixed seed (SCHEMATHESIS_SEED) so a failure reproduces.
# Needs `pip install schemathesis` (the version .ci/run pins). AUTODIFFD_BINARY skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${AUTODIFFD_BINARY:-}" ]; then
    swift build -c release --product autodiffd
    AUTODIFFD_BINARY="$(swift build -c release --show-bin-path)/autodiffd"
fi

LOG=$(mktemp /tmp/autodiffd-schemathesis.XXXXXX)
# Small limits keep every generated call cheap (no 504 from a large random tensor); a queue deep
# enough that one client never sees 503 overloaded.
"$AUTODIFFD_BINARY" --host 127.0.0.1 --port 0 --workers 2 --queue-depth 64 \
    --max-elements 100000 --max-work 100000000 --max-body-bytes 1048576 --request-timeout 30 2>"$LOG" &
SERVER=$!
trap 'kill -TERM "$SERVER" 2>/dev/null || true; rm -f "$LOG"' EXIT
PORT=""
for _ in $(seq 1 100); do
    PORT=$(sed -n 's/.*port=\([0-9]*\).*server started.*/\1/p' "$LOG" | head -1)
    [ -n "$PORT" ] && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
    sleep 0.1
done
[ -n "$PORT" ] || { echo "the server did not start" >&2; cat "$LOG" >&2; exit 1; }

status=0
schemathesis run docs/openapi.json --url "http://127.0.0.1:$PORT" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-50}" --seed "${SCHEMATHESIS_SEED:-1}" --workers 1 \
    --request-timeout 30 --report junit --report-dir .build/schemathesis || status=$?

kill -TERM "$SERVER"
wait "$SERVER" || { echo "the server did not exit cleanly after SIGTERM" >&2; status=1; }
trap 'rm -f "$LOG"' EXIT
if grep -q '"request failed unexpectedly"\|request failed unexpectedly' "$LOG"; then
    echo "the server logged an unexpected failure:" >&2
    grep 'request failed unexpectedly' "$LOG" >&2
    status=1
fi
exit "$status"
