#!/usr/bin/env bash
# Installs what rvs needs to build, test and run its demo on Debian 12.
# Idempotent: packages already present are left alone.
set -euo pipefail

PACKAGES=(
    libdpdk-dev dpdk-dev clang libclang-dev pkg-config build-essential
    iproute2 ethtool iputils-ping iputils-arping procps python3
)

SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing: ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "rvs needs a Rust toolchain (1.80 or newer): install it with rustup (https://rustup.rs)" >&2
        exit 1
    fi
fi
