#!/usr/bin/env bash
# Builds the core with libFuzzer + AddressSanitizer and fuzzes it for $1 seconds (default 120) on
# $2 parallel jobs (default 1). A trap, a sanitizer report, a call running past 10 s or a process
# above 2 GiB leaves crash-*/timeout-*/oom-* files in $FUZZ_OUT and exits non-zero; each one found
# becomes a regression test. `.ci/run` runs it for 60 s; longer runs are in docs/RELIABILITY.md.
set -euo pipefail
cd "$(dirname "$0")"
out=${FUZZ_OUT:-/tmp/autodiffd-fuzz}
seconds=${1:-120}
jobs=${2:-1}
mkdir -p "$out/corpus"
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name AutodiffCoreFuzzed \
    -emit-library -static -emit-module -emit-module-path "$out/AutodiffCoreFuzzed.swiftmodule" \
    -o "$out/libAutodiffCoreFuzzed.a" ../Sources/AutodiffCore/*.swift
swiftc -sanitize=fuzzer,address -parse-as-library -O -I "$out" -L "$out" -lAutodiffCoreFuzzed \
    FuzzCore.swift -o "$out/fuzz-core"
cd "$out"
flags=(-max_total_time="$seconds" -max_len=512 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
if [ "$jobs" -gt 1 ]; then
    SWIFT_BACKTRACE=enable=no ./fuzz-core "${flags[@]}" -jobs="$jobs" -workers="$jobs" corpus
else
    SWIFT_BACKTRACE=enable=no ./fuzz-core "${flags[@]}" corpus
fi
