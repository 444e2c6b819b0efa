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

# `start_release_server PORT [FLAGS...]` builds the release binary (at nice 10, in $SCRATCH_PATH,
# default .build, e.g. .build-release to build beside a debug build), sets `binary` to it, starts it
# as `start_server` does and prints one line naming the machine and the commit measured.
start_release_server() {
    local scratch=${SCRATCH_PATH:-.build}
    nice -n 10 swift build -c release --product autodiffd --scratch-path "$scratch"
    binary="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/autodiffd"
    start_server "$binary" "$@"
    echo "$(date -u +%FT%TZ) $(uname -srm), $(nproc) cores, $(git rev-parse --short HEAD)$(git diff --quiet || echo +)"
}
