#!/usr/bin/env bash
# Builds the end-to-end test topology of tests/common/topo.rs (same names,
# addresses and per-method real-server setup; see the diagram there), starts
# the real servers, runs a command in it, and removes everything when the
# command ends, also on failure or Ctrl-C.
#
#   sudo scripts/topo/topo.sh [--tag T] [--kernel-router] [--no-servers] METHODS [-- COMMAND...]
#
# METHODS: one of nat, fullnat, dr, tun for all three real servers, or three
# of them comma-separated (rs1,rs2,rs3), e.g. nat,dr,tun. COMMAND (default: an
# interactive shell) runs in the host namespace with these variables set:
#   TOPO_CL TOPO_LB TOPO_SW TOPO_RS1 TOPO_RS2 TOPO_RS3   namespace names
#   TOPO_LB_CLIENT_IF TOPO_LB_SERVER_IF                  rvsd's two veths (in TOPO_LB)
#   TOPO_VIP TOPO_DIP_CLIENT TOPO_DIP_SERVER TOPO_CIPS TOPO_RIPS TOPO_LIPS
#   TOPO_CLIENT                                          "ip netns exec $TOPO_CL python3 .../client.py"
# --kernel-router: no rvsd; the lb namespace becomes a plain router (DIPs on
# its veths, forwarding on) and the client routes the server segment and the
# VIP through it, as Topology::kernel_router does.
# --no-servers: the real-server namespaces get their addresses and routes but
# no rs-server.py, so COMMAND can run its own servers on their ports (the
# side-by-side benchmark runs nginx there).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

TAG=sh
ROUTER=0
SERVERS=1
while [ $# -gt 0 ]; do
    case "$1" in
        --tag) TAG=$2; shift 2 ;;
        --kernel-router) ROUTER=1; shift ;;
        --no-servers) SERVERS=0; shift ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) break ;;
    esac
done
if [ $# -lt 1 ]; then
    echo "usage: topo.sh [--tag T] [--kernel-router] [--no-servers] METHODS [-- COMMAND...] (see --help)" >&2
    exit 2
fi
IFS=, read -r -a METHODS <<< "$1"
shift
[ "${1:-}" = "--" ] && shift
if [ ${#METHODS[@]} -eq 1 ]; then METHODS=("${METHODS[0]}" "${METHODS[0]}" "${METHODS[0]}"); fi
if [ ${#METHODS[@]} -ne 3 ]; then echo "topo.sh: give one method or three (rs1,rs2,rs3)" >&2; exit 2; fi
for m in "${METHODS[@]}"; do
    case "$m" in nat|fullnat|dr|tun) ;; *) echo "topo.sh: unknown method '$m' (nat, fullnat, dr, tun)" >&2; exit 2 ;; esac
done
if [ "$(id -u)" != 0 ]; then
    echo "topo.sh creates network namespaces: run it as root or with sudo" >&2
    exit 1
fi

VIP=198.18.0.100 DIP_CLIENT=198.18.0.1 DIP_SERVER=198.19.0.1
CIPS=(198.18.0.2 198.18.0.3) RIPS=(198.19.0.11 198.19.0.12 198.19.0.13)
ROUTER_SERVER=198.19.0.254 ROUTER_CLIENT=198.18.1.1 CLIENT_BACK=198.18.1.2
CL=rvs-$TAG-cl-$$ LB=rvs-$TAG-lb-$$ SW=rvs-$TAG-sw-$$
RS=(rvs-$TAG-rs1-$$ rvs-$TAG-rs2-$$ rvs-$TAG-rs3-$$)
ALL=("$CL" "$LB" "$SW" "${RS[@]}")
PIDS=()
WORK=$(mktemp -d /tmp/rvs-topo.XXXXXX)

cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    for n in "${ALL[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# veth A (in NS_A) <-> B (in NS_B), up, checksum offload off.
veth() {
    ip link add "$1" netns "$2" type veth peer name "$3" netns "$4"
    for pair in "$2 $1" "$4 $3"; do
        set -- $pair
        ip -n "$1" link set "$2" up
        ip netns exec "$1" ethtool -K "$2" tx off rx off >/dev/null 2>&1 || true
    done
}
sysctls() { local ns=$1; shift; ip netns exec "$ns" sysctl -qw "$@"; }

# start NAME NS ARGS...: runs a helper in NS, waits (10 s at most) for "ready".
start() {
    local name=$1 ns=$2; shift 2
    PYTHONDONTWRITEBYTECODE=1 ip netns exec "$ns" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" &
    PIDS+=($!)
    for _ in $(seq 100); do
        grep -q '^ready' "$WORK/$name.out" 2>/dev/null && return 0
        kill -0 "${PIDS[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "topo.sh: $name did not start:" >&2
    cat "$WORK/$name.out" "$WORK/$name.err" >&2
    exit 1
}

for n in "${ALL[@]}"; do
    ip netns del "$n" 2>/dev/null || true
    ip netns add "$n"
    ip -n "$n" link set lo up
    sysctls "$n" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
veth cl-front "$CL" lb-client "$LB"
veth lb-server "$LB" sw-lb "$SW"
veth sw-cl "$SW" cl-back "$CL"
ip -n "$SW" link add br0 type bridge
ip -n "$SW" link set br0 up
ip -n "$SW" link set sw-lb master br0
for i in 0 1 2; do
    veth "sw-rs$((i + 1))" "$SW" eth0 "${RS[$i]}"
    ip -n "$SW" link set "sw-rs$((i + 1))" master br0
    ip -n "${RS[$i]}" addr add "${RIPS[$i]}/24" dev eth0
done
ip -n "$SW" addr add "$ROUTER_SERVER/24" dev br0
ip -n "$SW" addr add "$ROUTER_CLIENT/24" dev sw-cl
ip -n "$SW" route add 198.18.0.0/24 via "$CLIENT_BACK"
sysctls "$SW" net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
for c in "${CIPS[@]}"; do ip -n "$CL" addr add "$c/24" dev cl-front; done
ip -n "$CL" addr add "$CLIENT_BACK/24" dev cl-back
sysctls "$CL" net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0

for i in 0 1 2; do
    ns=${RS[$i]}
    case "${METHODS[$i]}" in
        nat) ip -n "$ns" route replace default via "$DIP_SERVER" ;;
        fullnat) ;;
        dr|tun)
            sysctls "$ns" net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
                net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2 \
                net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
                net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.lo.rp_filter=0
            ip -n "$ns" route replace default via "$ROUTER_SERVER"
            if [ "${METHODS[$i]}" = dr ]; then
                ip -n "$ns" addr add "$VIP/32" dev lo
            else
                start "decap-rs$((i + 1))" "$ns" python3 "$HERE/ipip-decap.py" --dev vip0 --vip "$VIP"
            fi ;;
    esac
    if [ "$SERVERS" = 1 ]; then
        start "rs$((i + 1))" "$ns" python3 "$HERE/rs-server.py" --name "rs$((i + 1))" \
            --http 80 --http 8080 --udp 5353
    fi
done

if [ "$ROUTER" = 1 ]; then
    ip -n "$LB" addr add "$DIP_CLIENT/24" dev lb-client
    ip -n "$LB" addr add "$DIP_SERVER/24" dev lb-server
    sysctls "$LB" net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    ip -n "$CL" route add 198.19.0.0/24 via "$DIP_CLIENT"
    ip -n "$CL" route add "$VIP/32" via "$DIP_CLIENT"
fi

export TOPO_CL=$CL TOPO_LB=$LB TOPO_SW=$SW TOPO_RS1=${RS[0]} TOPO_RS2=${RS[1]} TOPO_RS3=${RS[2]}
export TOPO_LB_CLIENT_IF=lb-client TOPO_LB_SERVER_IF=lb-server
export TOPO_VIP=$VIP TOPO_DIP_CLIENT=$DIP_CLIENT TOPO_DIP_SERVER=$DIP_SERVER
export TOPO_CIPS="${CIPS[*]}" TOPO_RIPS="${RIPS[*]}" TOPO_LIPS="198.19.0.5 198.19.0.6"
export TOPO_CLIENT="ip netns exec $CL python3 $HERE/client.py"
echo "topo.sh: ${METHODS[*]} topology up (client $CL, director $LB, real servers ${RS[*]})" >&2
if [ $# -eq 0 ]; then
    set -- bash -i
fi
status=0
"$@" || status=$?
exit "$status"
