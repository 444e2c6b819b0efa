#!/usr/bin/env bash
# Server CPU time per call: a release autodiffd on a local port, one body of scripts/bench/payloads.py
# posted to /v1/backward with wrk for a while, and the server's utime + stime (from /proc/PID/stat)
# over that run divided by the calls, and its minor page faults per call (memory the kernel had to
# map in: glibc giving freed memory back and taking it again shows here). On a shared machine this moves far less with other people's
# load than wall-clock latency; docs/PERFORMANCE.md compares changes with it. Also prints the server's
# resident memory at the end of the run and its peak. Linux only.
#
#   BIN=/path/to/autodiffd scripts/bench-cpu.sh tiny 16 6     workload, connections, seconds
#   FLAGS="--workers 1" BIN=… scripts/bench-cpu.sh …           the same with server flags
set -euo pipefail
cd "$(dirname "$0")/.."
workload=${1:?workload}
connections=${2:-1}
seconds=${3:-10}
port=${PORT:-18081}
bin=${BIN:?set BIN to a release autodiffd}
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

python3 scripts/bench/payloads.py "$work" "$workload"
source scripts/lib/local-server.sh
# shellcheck disable=SC2086 # FLAGS is a list of flags
start_server "$bin" "$port" ${FLAGS:-}
url="http://127.0.0.1:$port/v1/backward"
post() {
    BODY="$work/$workload.json" wrk -t"$1" -c"$2" -d"$3" --timeout 60s -s scripts/bench/post.lua "$url" | grep '^RESULT'
}
post 1 1 2s > /dev/null  # warm up: plan cache, allocator, page cache
cpu() { awk '{print $14 + $15}' "/proc/$server/stat"; }
faults() { awk '{print $10}' "/proc/$server/stat"; }
before=$(cpu)
faults_before=$(faults)
threads=1
[ "$connections" -gt 1 ] && threads=2
read -r _ calls errors median _ rate <<< "$(post "$threads" "$connections" "${seconds}s")"
after=$(cpu)
faults_after=$(faults)
python3 - "$before" "$after" "$(getconf CLK_TCK)" "$calls" "$faults_before" "$faults_after" <<'PY'
import sys
before, after, ticks, calls, faults_before, faults_after = map(float, sys.argv[1:])
print(f"cpu_us_per_call={(after - before) / ticks * 1e6 / calls:.1f}", end=" ")
print(f"faults_per_call={(faults_after - faults_before) / calls:.0f}", end=" ")
PY
rss() { awk -v field="$1:" '$1 == field {printf "%.0f", $2 / 1024}' "/proc/$server/status"; }
echo "workload=$workload connections=$connections calls=$calls errors=$errors median_ms=$median req_s=$rate" \
    "rss_mib=$(rss VmRSS) peak_rss_mib=$(rss VmHWM)"
