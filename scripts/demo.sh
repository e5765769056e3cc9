#!/usr/bin/env bash
# The demo (README's main command): builds rvs, puts rvsd in a network
# namespace on an af_packet port, and lets a client namespace talk to it.
# Everything it creates is removed on exit, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
if [ "$(id -u)" != 0 ]; then
    echo "scripts/demo.sh creates network namespaces: run it as root or with sudo" >&2
    exit 1
fi

LB=rvs-demo-lb
CL=rvs-demo-client
WORK=$(mktemp -d /tmp/rvs-demo.XXXXXX)
RVSD_PID=""

cleanup() {
    if [ -n "$RVSD_PID" ] && kill -0 "$RVSD_PID" 2>/dev/null; then
        kill -TERM "$RVSD_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$RVSD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$RVSD_PID" 2>/dev/null || true
    fi
    ip netns del "$LB" 2>/dev/null || true
    ip netns del "$CL" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

echo "==> building rvs (release)"
cargo build --release --locked -p rvs --bin rvsd -p rvs-cli --bin rvsadm
RVSADM="target/release/rvsadm --socket $WORK/rvsd.sock"

echo "==> topology: client namespace $CL <-veth-> director namespace $LB"
ip netns del "$LB" 2>/dev/null || true
ip netns del "$CL" 2>/dev/null || true
ip netns add "$LB"
ip netns add "$CL"
ip link add rvsdemo-lb netns "$LB" type veth peer name rvsdemo-cl netns "$CL"
for pair in "$LB rvsdemo-lb" "$CL rvsdemo-cl"; do
    set -- $pair
    ip -n "$1" link set lo up
    ip -n "$1" link set "$2" up
    ip netns exec "$1" ethtool -K "$2" tx off rx off >/dev/null 2>&1 || true
done
ip -n "$CL" addr add 198.18.0.2/24 dev rvsdemo-cl
ip -n "$CL" addr add 198.18.0.3/24 dev rvsdemo-cl

cat > "$WORK/rvsd.ron" <<RON
(
    // EAL without hugepages or PCI: the port is an af_packet socket on a veth.
    eal: ["--no-huge", "-m", "256", "--no-pci", "--file-prefix", "rvs-demo", "--log-level", "lib.eal:warning"],
    interfaces: [
        (name: "lb0", device: "net_af_packet0,iface=rvsdemo-lb",
         addresses: ["198.18.0.1/24", "198.18.0.100/32"]),
    ],
    workers: (main_lcore: 0, lcores: [1]),
    admin_socket: "$WORK/rvsd.sock",
)
RON
echo "==> starting rvsd (DIP 198.18.0.1, VIP 198.18.0.100) on lcore 1"
ip netns exec "$LB" target/release/rvsd --config "$WORK/rvsd.ron" 2> "$WORK/rvsd.log" &
RVSD_PID=$!
for _ in $(seq 100); do
    grep -q "rvsd running" "$WORK/rvsd.log" 2>/dev/null && break
    kill -0 "$RVSD_PID" 2>/dev/null || { cat "$WORK/rvsd.log"; exit 1; }
    sleep 0.1
done
grep -q "rvsd running" "$WORK/rvsd.log" || { echo "rvsd did not start:"; cat "$WORK/rvsd.log"; exit 1; }
sed 's/^/    rvsd| /' "$WORK/rvsd.log"

echo "==> client: who has 198.18.0.1? (ARP answered by rvsd's dataplane)"
ip netns exec "$CL" arping -c 2 -w 3 -I rvsdemo-cl 198.18.0.1 | sed 's/^/    /'
for src in 198.18.0.2 198.18.0.3; do
    for dst in 198.18.0.1 198.18.0.100; do
        echo "==> client $src: ping $dst"
        ip netns exec "$CL" ping -c 3 -i 0.2 -W 2 -I "$src" "$dst" | sed 's/^/    /'
    done
done
echo "==> client's neighbour table"
ip -n "$CL" neigh show dev rvsdemo-cl | sed 's/^/    /'

echo "==> configuring a virtual service with rvsadm, in ipvsadm's syntax"
for cmd in "-A -t 198.18.0.100:80 -s wrr" \
           "-a -t 198.18.0.100:80 -r 198.19.0.11:80 -m -w 1" \
           "-a -t 198.18.0.100:80 -r 198.19.0.12:80 -m -w 2" \
           "-a -t 198.18.0.100:80 -r 198.19.0.13:80 -m -w 3"; do
    echo "    # rvsadm $cmd"
    $RVSADM $cmd
done
echo "    # rvsadm -Ln"
$RVSADM -Ln | sed 's/^/    /'
echo "    # rvsadm -S -n"
$RVSADM -S -n | sed 's/^/    /'

echo "==> stopping rvsd (SIGTERM)"
kill -TERM "$RVSD_PID"
status=0
wait "$RVSD_PID" || status=$?
RVSD_PID=""
tail -n +$(( $(grep -n "rvsd running" "$WORK/rvsd.log" | cut -d: -f1) + 1 )) "$WORK/rvsd.log" | sed 's/^/    rvsd| /'
echo "==> rvsd exited with status $status; demo done"
