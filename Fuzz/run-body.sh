#!/usr/bin/env bash
# Fuzzes whole request bodies with libFuzzer + AddressSanitizer for $1 seconds (default 120) on $2
# parallel jobs (default 1): Fuzz/Body/FuzzBody.swift sends each input through what a worker does
# with a call's body (JSON reader, wire decoding, graph, computation, rendering) for every compute
# endpoint and graph registration. The whole package is built with the fuzzer's instrumentation in
# its own build directory. A trap, a sanitizer report, a 500, an unreadable 200, a call past 10 s or
# a process above 2 GiB leaves crash-*/timeout-*/oom-* files in $FUZZ_OUT and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
jobs=${2:-1}
out=${FUZZ_OUT:-/tmp/autodiffd-fuzz-body}
mkdir -p "$out/corpus"

# The same flags for both calls: SwiftPM replans (and later rebuilds everything) when they differ.
build=(env AUTODIFFD_FUZZ=1 swift build -c release --scratch-path "$out/build" --sanitize=fuzzer --sanitize=address
    -Xswiftc -enable-testing --product autodiffd-fuzz-body)
"${build[@]}"
fuzzer="$("${build[@]}" --show-bin-path)/autodiffd-fuzz-body"
python3 Fuzz/Body/seeds.py "$out/seeds"

flags=(-max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -dict="$(pwd)/Fuzz/Body/json.dict")
if [ "$jobs" -gt 1 ]; then flags+=(-jobs="$jobs" -workers="$jobs"); fi
cd "$out"
SWIFT_BACKTRACE=enable=no "$fuzzer" "${flags[@]}" corpus seeds
