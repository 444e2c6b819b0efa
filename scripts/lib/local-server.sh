# Sourced by the benchmark and load scripts. `start_server BIN PORT [FLAGS...]` starts BIN (a
# release autodiffd) on 127.0.0.1:PORT at log level warning with any further flags, sets `server`
# to its PID, and returns once /healthz answers (non-zero if it never does).
start_server() {
    local bin=$1 port=$2
    shift 2
    "$bin" --host 127.0.0.1 --port "$port" --log-level warning "$@" &
    server=$!
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$port/healthz" > /dev/null && return 0
        sleep 0.1
    done
    echo "autodiffd did not answer /healthz on 127.0.0.1:$port" >&2
    return 1
}
