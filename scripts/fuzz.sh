#!/usr/bin/env bash
# Fuzzes the dataplane's packet path (fuzz/fuzz_targets/packet.rs) with
# libFuzzer for a bounded time, on stable Rust (no nightly, no cargo-fuzz).
#
# Usage: scripts/fuzz.sh [SECONDS] [LIBFUZZER_ARGS...]
#   SECONDS         how long to fuzz (default 60)
#   LIBFUZZER_ARGS  passed on, e.g. -seed=1 or -jobs=2
#
# The target is built with the sanitizer-coverage flags cargo-fuzz passes
# (all stable rustc options; no -Zsanitizer: the dataplane has no unsafe
# code) into ${CARGO_TARGET_DIR:-target}/fuzz, so these RUSTFLAGS never
# invalidate the main build. New inputs go to a temporary corpus directory;
# the seeds in fuzz/corpus/packet are only read. On a crash (panic, timeout,
# out of memory) it exits non-zero and prints the input's path (under
# fuzz/artifacts/packet/, ignored by git), its bytes in hex, and how to
# replay it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "scripts/fuzz.sh: SECONDS must be a positive whole number, got '$seconds'" >&2
    exit 2
fi
shift $(($# > 0 ? 1 : 0))

host="$(rustc -vV | sed -n 's/^host: //p')"
target_dir="${CARGO_TARGET_DIR:-target}/fuzz"
# What cargo-fuzz passes for libFuzzer's coverage feedback (sancov pass with
# inline 8-bit counters, the PC table, comparison tracing) plus its
# `--cfg fuzzing` and debug assertions; line tables for backtraces.
rustflags=(
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
    --cfg fuzzing
    -Cdebug-assertions
    -Coverflow-checks
    -Cdebuginfo=line-tables-only
)

echo "==> building the fuzz target (into $target_dir)"
# --target keeps the flags off build scripts, which cannot link sancov.
env -u CARGO_ENCODED_RUSTFLAGS RUSTFLAGS="${rustflags[*]}" CARGO_TARGET_DIR="$target_dir" \
    cargo build --release --manifest-path fuzz/Cargo.toml --target "$host" --bin packet
bin="$target_dir/$host/release/packet"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
artifacts="fuzz/artifacts/packet"
mkdir -p "$artifacts" "$work/corpus"
log="$work/fuzz.log"

echo "==> fuzzing for ${seconds}s (seeds: fuzz/corpus/packet)"
# libFuzzer writes new inputs only into the first corpus directory.
set +e
"$bin" "$work/corpus" fuzz/corpus/packet \
    -max_total_time="$seconds" \
    -dict=fuzz/packet.dict \
    -max_len=4096 \
    -artifact_prefix="$artifacts/" \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 \
    "$@" 2>&1 | tee "$log" | grep --line-buffered -E '^#[0-9]+[[:space:]]+(INITED|pulse|DONE)|^INFO: (seed|Loaded|[0-9]+ files)|panicked|^==[0-9]+== ERROR|^SUMMARY'
rc="${PIPESTATUS[0]}"
set -e

sed -n 's/^stat::\(number_of_executed_units\|average_exec_per_sec\|new_units_added\|peak_rss_mb\): */  \1 /p' "$log"
if [ "$rc" -ne 0 ]; then
    echo "---- libFuzzer output (last 60 lines) ----" >&2
    tail -n 60 "$log" >&2
    crash="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
    echo "scripts/fuzz.sh: the fuzzer failed (exit $rc)" >&2
    if [ -n "$crash" ] && [ -f "$crash" ]; then
        echo "  crash input: $crash ($(wc -c <"$crash") bytes)" >&2
        echo "  hex: $(od -An -v -tx1 "$crash" | tr -d ' \n' | head -c 8192)" >&2
        echo "  replay: RUST_BACKTRACE=1 $bin $crash" >&2
    fi
    exit 1
fi
echo "==> no crash in ${seconds}s"
