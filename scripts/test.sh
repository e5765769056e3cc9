#!/usr/bin/env bash
# The test command (README): installs what is missing, checks formatting and
# lints, then runs every test, including the DPDK and network-namespace tests
# (which need root).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

if [ "$(id -u)" != 0 ]; then
    echo "scripts/test.sh: the network-namespace tests need root; run it as root or with sudo" >&2
    exit 1
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --workspace --locked
echo "==> fuzz crate: fmt, clippy, tests"
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/fuzz" \
    cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/fuzz" \
    cargo test --manifest-path fuzz/Cargo.toml --lib
echo "==> fuzz: the packet path for 60 s"
bash scripts/fuzz.sh 60
