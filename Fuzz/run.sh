#!/usr/bin/env bash
# Fuzzes the core with libFuzzer + AddressSanitizer for $1 seconds (default 120) on $2 parallel
# jobs (default 1): random multi-node graphs through every core entry point (FuzzCore.swift).
# A trap, a sanitizer report, a call running past 10 s or a process above 2 GiB leaves
# crash-*/timeout-*/oom-* files in $FUZZ_OUT and exits non-zero; each one found becomes a
# regression test. `.ci/run` runs it for 60 s; longer runs are in docs/RELIABILITY.md.
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)
seconds=${1:-120}
jobs=${2:-1}
out=${FUZZ_OUT:-/tmp/autodiffd-fuzz}
mkdir -p "$out/corpus" "$out/cshim"
sanitize=(-sanitize=fuzzer,address -parse-as-library -O -I "$out/cshim")

# The core imports CBLASShim, the C target that loads OpenBLAS: compile it and give it a module map.
clang -O2 -c ../Sources/CBLASShim/CBLASShim.c -I ../Sources/CBLASShim/include -o "$out/cshim/CBLASShim.o"
printf 'module CBLASShim {\n    header "%s"\n    export *\n}\n' "$here/../Sources/CBLASShim/include/CBLASShim.h" \
    > "$out/cshim/module.modulemap"
swiftc "${sanitize[@]}" -enable-testing -module-name AutodiffCoreFuzzed -emit-library -static -emit-module \
    -emit-module-path "$out/AutodiffCoreFuzzed.swiftmodule" -o "$out/libAutodiffCoreFuzzed.a" \
    ../Sources/AutodiffCore/*.swift
swiftc "${sanitize[@]}" -I "$out" -L "$out" -lAutodiffCoreFuzzed FuzzCore.swift "$out/cshim/CBLASShim.o" -ldl \
    -o "$out/fuzz-core"

flags=(-max_total_time="$seconds" -max_len=512 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
if [ "$jobs" -gt 1 ]; then flags+=(-jobs="$jobs" -workers="$jobs"); fi
cd "$out"
SWIFT_BACKTRACE=enable=no ./fuzz-core "${flags[@]}" corpus
