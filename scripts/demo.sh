#!/usr/bin/env bash
# The demo (README's main command): builds rvs, builds a lab of network
# namespaces (a client, the director, three real web servers; see
# scripts/topo/topo.sh), starts rvsd in the director, configures an LVS-NAT
# virtual service with rvsadm in ipvsadm's syntax, sends a client's 12
# requests through it and shows where each went and what rvsadm counted.
# Everything it creates is removed on exit, also on failure or Ctrl-C.
#
#   sudo bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Second stage, run by topo.sh inside the lab it built (TOPO_* set).
if [ "${1:-}" = "--in-lab" ]; then
    BIN=$2
    WORK=$(mktemp -d /tmp/rvs-demo.XXXXXX)
    RVSD_PID=""
    cleanup() {
        if [ -n "$RVSD_PID" ] && kill -0 "$RVSD_PID" 2>/dev/null; then
            kill -TERM "$RVSD_PID" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$RVSD_PID" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$RVSD_PID" 2>/dev/null || true
        fi
        rm -rf "$WORK"
    }
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    read -r -a RIPS <<< "$TOPO_RIPS"
    read -r -a CIPS <<< "$TOPO_CIPS"
    CIP=${CIPS[0]}
    VIP=$TOPO_VIP
    rvsadm() {
        echo "    # rvsadm $*"
        "$BIN/rvsadm" --socket "$WORK/rvsd.sock" "$@" | sed 's/^/    /'
    }

    echo "==> the lab: client $CIP -> VIP $VIP (director, rvsd) -> real servers ${RIPS[*]}"
    cat > "$WORK/rvsd.ron" <<RON
(
    // EAL without hugepages or PCI: each port is an af_packet socket on a veth.
    eal: ["--no-huge", "-m", "256", "--no-pci", "--file-prefix", "rvs-demo", "--log-level", "lib.eal:warning"],
    interfaces: [
        (name: "client", device: "net_af_packet0,iface=$TOPO_LB_CLIENT_IF",
         addresses: ["$TOPO_DIP_CLIENT/24", "$VIP/32"]),
        (name: "server", device: "net_af_packet1,iface=$TOPO_LB_SERVER_IF",
         addresses: ["$TOPO_DIP_SERVER/24"]),
    ],
    // One worker on lcore 1; it naps when idle, since the demo shares its machine.
    workers: (main_lcore: 0, lcores: [1], idle_sleep_us: 50),
    admin_socket: "$WORK/rvsd.sock",
)
RON
    echo "==> starting rvsd in the director namespace (DIPs $TOPO_DIP_CLIENT and $TOPO_DIP_SERVER)"
    ip netns exec "$TOPO_LB" "$BIN/rvsd" --config "$WORK/rvsd.ron" 2> "$WORK/rvsd.log" &
    RVSD_PID=$!
    for _ in $(seq 150); do
        grep -q "rvsd running" "$WORK/rvsd.log" 2>/dev/null && break
        kill -0 "$RVSD_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q "rvsd running" "$WORK/rvsd.log"; then
        echo "rvsd did not start:" >&2
        cat "$WORK/rvsd.log" >&2
        exit 1
    fi
    echo "    rvsd is running (pid $RVSD_PID)"

    echo "==> an LVS-NAT virtual service, round robin, three real servers"
    rvsadm -A -t "$VIP:80" -s rr
    for rip in "${RIPS[@]}"; do
        rvsadm -a -t "$VIP:80" -r "$rip:80" -m
    done
    rvsadm -Ln

    echo "==> the client ($CIP) asks http://$VIP/ 12 times, a new connection each time"
    declare -A RIP_OF=([rs1]=${RIPS[0]} [rs2]=${RIPS[1]} [rs3]=${RIPS[2]})
    failed=0
    while read -r _ i status rs ms; do
        if [ "$status" = ok ]; then
            printf '    request %2d: answered by %s (%s) in %s ms\n' "$((i + 1))" "$rs" "${RIP_OF[$rs]:-?}" "$ms"
        else
            printf '    request %2d: failed: %s\n' "$((i + 1))" "$rs"
            failed=$((failed + 1))
        fi
    done < <($TOPO_CLIENT http --src "$CIP" --dst "$VIP" --port 80 -n 12 --timeout 3 || true)

    sleep 1  # the workers export their counters every 0.5 s
    echo "==> what the director counted"
    rvsadm -Ln --stats
    rvsadm -Ln

    echo "==> stopping rvsd (SIGTERM)"
    kill -TERM "$RVSD_PID"
    status=0
    wait "$RVSD_PID" || status=$?
    RVSD_PID=""
    echo "    rvsd exited with status $status"
    if [ "$failed" != 0 ] || [ "$status" != 0 ]; then
        echo "==> demo FAILED: $failed request(s) failed; rvsd's log:" >&2
        cat "$WORK/rvsd.log" >&2
        exit 1
    fi
    exit 0
fi

source scripts/deps.sh
if [ "$(id -u)" != 0 ]; then
    echo "scripts/demo.sh creates network namespaces: run it as root or with sudo" >&2
    exit 1
fi

echo "==> building rvs (release)"
cargo build --release --locked -p rvs --bin rvsd -p rvs-cli --bin rvsadm
BIN=$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)

echo "==> building the lab (network namespaces; removed when the demo ends)"
status=0
bash scripts/topo/topo.sh --tag demo nat -- bash "$PWD/scripts/demo.sh" --in-lab "$BIN" || status=$?
if [ "$status" = 0 ]; then
    echo "==> demo done; the lab is gone"
fi
exit "$status"
