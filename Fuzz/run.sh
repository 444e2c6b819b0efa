#!/usr/bin/env bash
# Builds the core with libFuzzer + AddressSanitizer and fuzzes it for $1 seconds (default 120).
# A crash leaves crash-* files here and exits non-zero. Not part of CI (it is open-ended).
set -euo pipefail
cd "$(dirname "$0")"
out=${FUZZ_OUT:-/tmp/autodiffd-fuzz}
mkdir -p "$out/corpus"
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name AutodiffCoreFuzzed \
    -emit-library -static -emit-module -emit-module-path "$out/AutodiffCoreFuzzed.swiftmodule" \
    -o "$out/libAutodiffCoreFuzzed.a" ../Sources/AutodiffCore/*.swift
swiftc -sanitize=fuzzer,address -parse-as-library -O -I "$out" -L "$out" -lAutodiffCoreFuzzed \
    FuzzCore.swift -o "$out/fuzz-core"
SWIFT_BACKTRACE=enable=no "$out/fuzz-core" -max_total_time="${1:-120}" -max_len=512 "$out/corpus"
