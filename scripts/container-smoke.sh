#!/usr/bin/env bash
# Proves the Dockerfile without a Docker engine: builds the release binary with the Dockerfile's
# command, makes the runtime stage's file system (Debian bookworm from debootstrap, then the runtime
# stage's own RUN instruction in a chroot), copies the binary in, runs ENTRYPOINT as the USER with
# the ENV of the Dockerfile, and checks /healthz, the README's founding example, that matmul loaded
# the runtime stage's OpenBLAS, the HEALTHCHECK command as written, and a SIGTERM drain (exit 0).
#
# Needs root (debootstrap, chroot, unshare), the Debian mirror of /etc/apt/sources.list*, and
# python3. The runtime file system is cached in $AUTODIFFD_ROOTFS_CACHE (default
# /var/cache/autodiffd-rootfs), keyed by the runtime stage's RUN instruction, so reruns only build
# and run. Usage: scripts/container-smoke.sh [--prepare]   (--prepare: only make the cached file system)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CACHE=${AUTODIFFD_ROOTFS_CACHE:-/var/cache/autodiffd-rootfs}
SUITE=bookworm

log() { printf 'container-smoke: %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (debootstrap, chroot and unshare need it)"
if ! command -v debootstrap >/dev/null 2>&1; then
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap
fi

# ---- the Dockerfile, read once: the runtime stage's RUN, ENV, USER, HEALTHCHECK, ENTRYPOINT ----
eval "$(python3 - Dockerfile <<'PY'
import json, re, shlex, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
froms = [i for i, l in enumerate(lines) if l.upper().startswith("FROM ")]
runtime = lines[froms[-1]:]
base = runtime[0].split()[1]
def instruction(name):
    return [l[len(name):].strip() for l in runtime if l.upper().startswith(name + " ")]
run = instruction("RUN")
env = []
for e in instruction("ENV"):
    env += shlex.split(e)
user = instruction("USER")[-1]
entry = json.loads(instruction("ENTRYPOINT")[-1])
check = instruction("HEALTHCHECK")[-1]
command = re.sub(r"^(--\S+\s+)*CMD\s+", "", check)
command = json.loads(command) if command.startswith("[") else ["/bin/sh", "-c", command]
build = [l for l in lines[:froms[-1]] if "swift build -c release" in l and "--static-swift-stdlib" in l]
print("BASE=" + shlex.quote(base))
print("RUNTIME_RUN=" + shlex.quote(" && ".join(run)))
print("RUNTIME_ENV=(" + " ".join(shlex.quote(e) for e in env) + ")")
print("RUNTIME_USER=" + shlex.quote(user))
print("ENTRYPOINT=(" + " ".join(shlex.quote(e) for e in entry) + ")")
print("HEALTHCHECK=(" + " ".join(shlex.quote(e) for e in command) + ")")
print("BUILD_IN_DOCKERFILE=" + shlex.quote(str(bool(build))))
PY
)"
[ "$BASE" = "debian:$SUITE-slim" ] || fail "the runtime stage is $BASE; this script makes debian:$SUITE-slim"
[ "$BUILD_IN_DOCKERFILE" = True ] || fail "the Dockerfile no longer builds with swift build -c release --static-swift-stdlib"

# ---- 1. the runtime stage's file system, cached ----
mirror() {
    local uri
    uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1 || true)
    [ -n "$uri" ] || uri=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        | awk '{print $2}' | grep -v security | head -1 || true)
    echo "${uri:-http://deb.debian.org/debian}"
}
BASE_DIR="$CACHE/$SUITE-minbase"
if [ ! -e "$BASE_DIR/.complete" ]; then
    MIRROR=$(mirror)
    log "debootstrap --variant=minbase $SUITE from $MIRROR into $BASE_DIR (once)"
    rm -rf "$BASE_DIR" && mkdir -p "$CACHE"
    debootstrap --variant=minbase "$SUITE" "$BASE_DIR" "$MIRROR" >&2
    touch "$BASE_DIR/.complete"
fi
LAYER_KEY=$(printf '%s' "$RUNTIME_RUN" | sha256sum | cut -c1-16)
LAYER_DIR="$CACHE/$SUITE-runtime-$LAYER_KEY"
if [ ! -e "$LAYER_DIR/.complete" ]; then
    log "runtime stage RUN in a chroot: $RUNTIME_RUN"
    rm -rf "$LAYER_DIR" && cp -a "$BASE_DIR" "$LAYER_DIR" && rm -f "$LAYER_DIR/.complete"
    cp /etc/resolv.conf "$LAYER_DIR/etc/resolv.conf"
    # A private mount namespace: /proc is unmounted when the command ends, however it ends.
    unshare --mount sh -c 'mount -t proc proc "$1/proc" && chroot "$1" /bin/sh -c "$2"' \
        sh "$LAYER_DIR" "DEBIAN_FRONTEND=noninteractive; export DEBIAN_FRONTEND; $RUNTIME_RUN" >&2
    touch "$LAYER_DIR/.complete"
fi

if [ "${1:-}" = "--prepare" ]; then log "file system ready: $LAYER_DIR"; exit 0; fi

# ---- 2. the binary, built as the Dockerfile builds it ----
# SWIFT_SCRATCH_PATH: another build directory than .build (e.g. one kept for release builds).
SCRATCH=${SWIFT_SCRATCH_PATH:-.build}
log "building: swift build -c release --static-swift-stdlib --product autodiffd (in $SCRATCH)"
swift build -c release --static-swift-stdlib --product autodiffd --scratch-path "$SCRATCH" >&2
BINARY="$(swift build -c release --show-bin-path --scratch-path "$SCRATCH")/autodiffd"

# ---- 3. a fresh container file system with the binary (COPY --from=build) ----
ROOT=$(mktemp -d /tmp/autodiffd-container.XXXXXX)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$ROOT"
}
trap cleanup EXIT
cp -a "$LAYER_DIR/." "$ROOT/"
rm -f "$ROOT/.complete"
install -D -m 0755 "$BINARY" "$ROOT${ENTRYPOINT[0]}"
USER_ID=${RUNTIME_USER%%:*}
GROUP_ID=${RUNTIME_USER#*:}
[ "$GROUP_ID" != "$RUNTIME_USER" ] || GROUP_ID=$USER_ID
chroot "$ROOT" getent passwd "$USER_ID" >/dev/null || fail "the runtime stage did not create user $USER_ID"

# ---- 4. run it: its own PID and mount namespaces (it is PID 1, as in a container), chroot, USER ----
# The port is given as a flag while the Dockerfile's ENV says PORT=8080: the health check must
# follow the flag. The host's network is shared, so the checks below use 127.0.0.1.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE_URL="http://127.0.0.1:$PORT"
SERVER_LOG="$ROOT.log"
CONTAINER_ENV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/ "${RUNTIME_ENV[@]}")
log "running ${ENTRYPOINT[*]} --port $PORT as $USER_ID:$GROUP_ID (${RUNTIME_ENV[*]})"
unshare --pid --fork --mount-proc="$ROOT/proc" \
    chroot --userspec="$USER_ID:$GROUP_ID" "$ROOT" "${CONTAINER_ENV[@]}" \
    "${ENTRYPOINT[@]}" --host 127.0.0.1 --port "$PORT" --workers 2 2>"$SERVER_LOG" &
UNSHARE_PID=$!
for _ in $(seq 1 200); do
    SERVER_PID=$(pgrep -P "$UNSHARE_PID" || true)
    [ -n "$SERVER_PID" ] && break
    sleep 0.05
done
[ -n "$SERVER_PID" ] || fail "the server process did not start"
for _ in $(seq 1 120); do
    curl -fsS "$BASE_URL/healthz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "autodiffd exited: $(cat "$SERVER_LOG")"
    sleep 0.5
done

# Runs as the container does, as PID 1's user and in its namespaces and root.
in_container() {
    nsenter --target "$SERVER_PID" --pid --mount --root --wd=/ \
        chroot --userspec="$USER_ID:$GROUP_ID" / "${CONTAINER_ENV[@]}" "$@"
}
[ "$(in_container id -u)" = "$USER_ID" ] || fail "the server's namespace does not run as $USER_ID"
[ "$(cat "/proc/$SERVER_PID/status" | awk '/^Uid:/ {print $2}')" = "$USER_ID" ] || fail "autodiffd is not running as $USER_ID"

# ---- 5. the checks ----
HEALTH=$(curl -fsS "$BASE_URL/healthz") || fail "/healthz did not answer 200"
[ "$HEALTH" = '{"status":"ok"}' ] || fail "/healthz answered $HEALTH"
log "ok: /healthz"

python3 - "$BASE_URL" README.md <<'PY' || fail "the README's founding example"
import json, re, sys, urllib.request
base, readme = sys.argv[1], open(sys.argv[2]).read()
blocks = re.findall(r"```(\w*)\n(.*?)```", readme, re.S)
for (lang, code), (next_lang, expected) in zip(blocks, blocks[1:]):
    if lang == "sh" and "/v1/backward" in code and next_lang == "json":
        break
else:
    sys.exit("no sh + json example for /v1/backward in the README")
body = re.search(r"-d '(.*)'", code, re.S).group(1)
request = urllib.request.Request(base + "/v1/backward", data=body.encode(), method="POST")
with urllib.request.urlopen(request, timeout=30) as response:
    answer = json.load(response)
if answer != json.loads(expected):
    sys.exit(f"expected {expected}, got {answer}")
print("container-smoke: ok: the README's founding example", file=sys.stderr)
PY

# The runtime stage's OpenBLAS is the one the engine loads: /metrics names the BLAS actually in use.
curl -fsS "$BASE_URL/metrics" | grep -q 'autodiffd_engine_info{blas="openblas"' \
    || fail "matmul does not use OpenBLAS in the container: $(curl -fsS "$BASE_URL/metrics" | grep engine_info)"
log "ok: OpenBLAS loaded ($(curl -fsS "$BASE_URL/metrics" | grep -o 'core="[^"]*"'))"

log "HEALTHCHECK as written: ${HEALTHCHECK[*]}"
in_container "${HEALTHCHECK[@]}" >&2 || fail "the Dockerfile's HEALTHCHECK failed against a server on --port $PORT"
log "ok: HEALTHCHECK"

# The in-container view must not see a server on the ENV's port: the check above followed the flag.
if in_container "${HEALTHCHECK[@]}" --port 1 >/dev/null 2>&1; then fail "the health check passes with no server"; fi
log "ok: HEALTHCHECK fails when nothing answers"

kill -TERM "$SERVER_PID"
set +e
wait "$UNSHARE_PID"
STATUS=$?
set -e
SERVER_PID=""
[ "$STATUS" -eq 0 ] || fail "autodiffd exited $STATUS after SIGTERM: $(cat "$SERVER_LOG")"
grep -q "draining" "$SERVER_LOG" || fail "no drain in the log: $(cat "$SERVER_LOG")"
rm -f "$SERVER_LOG"
log "ok: SIGTERM drained, exit 0"
log "PASS"
