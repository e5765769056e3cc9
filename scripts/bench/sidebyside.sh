#!/usr/bin/env bash
# Side-by-side benchmark (issue 8, item 3): four L4 load balancers, one after
# the other in the end-to-end namespace topology of scripts/topo/topo.sh, each
# spreading HTTP from the client over the three real servers behind VIP
# 198.18.0.100:80:
#
#   rvs      rvsd (one worker lcore; its two ports on the director's veths
#            through net_af_xdp, or net_af_packet), LVS-NAT, rr
#   nft      the kernel as a router with nftables DNAT
#            (dnat to numgen inc mod 3 map { 0 : RIP1, 1 : RIP2, 2 : RIP3 })
#   haproxy  HAProxy, mode tcp, balance roundrobin, nbthread 1
#   nginx    nginx stream proxy, worker_processes 1
#
# The real servers are nginx (one worker each, 64-byte body naming the
# server); the load is wrk from the client namespace, first with keep-alive
# (requests/s, latency percentiles), then with "Connection: close" (a new TCP
# connection per request: connections/s). Every contender gets a fresh
# topology; the director's work is pinned to CPU 1, everything else to CPU 0
# (see the notes the run writes into its JSON).
#
#   sudo bash scripts/bench/sidebyside.sh [--secs N] [--conns C] [--out FILE.json]
#                                         [--only rvs,nft,haproxy,nginx] [--build]
#                                         [--rvs-dev af_xdp|af_packet] [--idle-sleep-us U]
#                                         [--af-packet-args A] [--af-xdp-args A]
#                                         [--burst B] [--no-rps] [--nice N] [--perf DIR]
#
#   --secs N    seconds of each wrk run (default 10)
#   --conns C   wrk connections (default 32)
#   --out FILE  where the JSON goes (default $CARGO_TARGET_DIR/sidebyside.json,
#               target/sidebyside.json without CARGO_TARGET_DIR)
#   --only L    comma-separated subset of the contenders, in the order given;
#               besides rvs, variants of it can run in the same session:
#               rvs-DEV, rvs-sleepU or rvs-DEV-sleepU (DEV af_xdp or af_packet,
#               U its idle_sleep_us), e.g. --only rvs,rvs-af_packet,nft
#   --build     rebuild rvsd and rvsadm even when release binaries exist
#   --rvs-dev D        how rvsd's ports reach the veths (default af_xdp):
#                      af_xdp     net_af_xdp (native veth XDP, AF_XDP sockets;
#                                 the veths' NAPI threads pinned to CPU 1)
#                      af_packet  net_af_packet (packet-socket rings)
#                      af_xdp measured 1.6-2x af_packet's req/s here.
#   --idle-sleep-us U  rvsd's workers.idle_sleep_us (default 10): the worker
#                      shares CPU 1 with the kernel's work for its ports (NAPI
#                      threads, sendto), which a busy-polling worker (0) takes
#                      CPU time from; 10 measured 1.2x 0's req/s
#   --af-packet-args A, --af-xdp-args A
#                      devargs appended to that PMD's device string, e.g.
#                      qdisc_bypass=1,framecnt=1024 or busy_budget=0
# Knobs for finding out where rvs's time goes (the defaults are the benchmark):
#   --burst B          rvsd's workers.burst (default 32)
#   --no-rps           leave the director's veths without RPS, so the kernel's
#                      receive work runs on the sending CPU (CPU 0), not CPU 1
#   --nice N           nice level of every process the benchmark starts
#                      (default -10: other work on a shared machine gets less
#                      of the two CPUs; 0 to share them evenly)
#   --perf DIR         perf record CPU 1 (the director's) during every run:
#                      DIR/NAME.KIND.perf.data and a flat profile NAME.KIND.txt
#
# Missing Debian packages (nftables haproxy nginx-light libnginx-mod-stream
# wrk) are installed without starting their services. rvsd/rvsadm are built
# (release, honouring CARGO_TARGET_DIR) when missing. Namespaces and processes
# are removed on exit, failure or Ctrl-C.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

SECS=10
CONNS=32
OUT=""
ONLY="rvs,nft,haproxy,nginx"
BUILD=0
export SBS_IDLE_SLEEP_US=10 SBS_BURST=32 SBS_RPS=1 SBS_NICE=-10 SBS_PERF=""
export SBS_RVS_DEV=af_xdp SBS_AF_PACKET_ARGS="" SBS_AF_XDP_ARGS=""
while [ $# -gt 0 ]; do
    case "$1" in
        --secs) SECS=${2:?--secs needs a number}; shift 2 ;;
        --conns) CONNS=${2:?--conns needs a number}; shift 2 ;;
        --out) OUT=${2:?--out needs a file name}; shift 2 ;;
        --only) ONLY=${2:?--only needs a list}; shift 2 ;;
        --build) BUILD=1; shift ;;
        --rvs-dev) SBS_RVS_DEV=${2:?--rvs-dev needs af_xdp or af_packet}; shift 2 ;;
        --af-packet-args) SBS_AF_PACKET_ARGS=${2?--af-packet-args needs devargs}; shift 2 ;;
        --af-xdp-args) SBS_AF_XDP_ARGS=${2?--af-xdp-args needs devargs}; shift 2 ;;
        --idle-sleep-us) SBS_IDLE_SLEEP_US=${2:?--idle-sleep-us needs a number}; shift 2 ;;
        --burst) SBS_BURST=${2:?--burst needs a number}; shift 2 ;;
        --no-rps) SBS_RPS=0; shift ;;
        --nice) SBS_NICE=${2:?--nice needs a number}; shift 2 ;;
        --perf) SBS_PERF=${2:?--perf needs a directory}; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "sidebyside.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
for v in "$SECS" "$CONNS" "$SBS_BURST"; do
    if ! [[ "$v" =~ ^[1-9][0-9]*$ ]]; then
        echo "sidebyside.sh: --secs, --conns and --burst take a positive whole number, not '$v'" >&2
        exit 2
    fi
done
if ! [[ "$SBS_NICE" =~ ^-?[0-9]+$ ]] || [ "$SBS_NICE" -lt -20 ] || [ "$SBS_NICE" -gt 19 ]; then
    echo "sidebyside.sh: --nice takes a level from -20 to 19, not '$SBS_NICE'" >&2
    exit 2
fi
if ! [[ "$SBS_IDLE_SLEEP_US" =~ ^[0-9]+$ ]]; then
    echo "sidebyside.sh: --idle-sleep-us takes a whole number, not '$SBS_IDLE_SLEEP_US'" >&2
    exit 2
fi
case "$SBS_RVS_DEV" in af_xdp|af_packet) ;;
    *) echo "sidebyside.sh: --rvs-dev takes af_xdp or af_packet, not '$SBS_RVS_DEV'" >&2; exit 2 ;;
esac
for v in "$SBS_AF_PACKET_ARGS" "$SBS_AF_XDP_ARGS"; do
    # key=value pairs, comma-separated: they go into rvsd's config verbatim.
    if [ -n "$v" ] && ! [[ "$v" =~ ^[a-z_]+=[A-Za-z0-9_./-]+(,[a-z_]+=[A-Za-z0-9_./-]+)*$ ]]; then
        echo "sidebyside.sh: devargs are key=value pairs separated by commas, not '$v'" >&2
        exit 2
    fi
done
IFS=, read -r -a CONTENDERS <<< "$ONLY"
if [ ${#CONTENDERS[@]} -eq 0 ]; then
    echo "sidebyside.sh: --only names no contender (rvs, nft, haproxy, nginx)" >&2
    exit 2
fi
RVS_VARIANT='^rvs(-(af_packet|af_xdp))?(-sleep[0-9]+)?$'
for c in "${CONTENDERS[@]}"; do
    case "$c" in nft|haproxy|nginx) continue ;; esac
    if ! [[ "$c" =~ $RVS_VARIANT ]]; then
        echo "sidebyside.sh: unknown contender '$c' (rvs, nft, haproxy, nginx, or rvs-af_packet, rvs-af_xdp, rvs-sleepU, rvs-DEV-sleepU)" >&2
        exit 2
    fi
done
if [ "$(printf '%s\n' "${CONTENDERS[@]}" | sort | uniq -d)" != "" ]; then
    echo "sidebyside.sh: --only names a contender twice" >&2
    exit 2
fi
if [ "$(id -u)" != 0 ]; then
    echo "sidebyside.sh creates network namespaces: run it as root or with sudo" >&2
    exit 1
fi
OUT=${OUT:-${CARGO_TARGET_DIR:-target}/sidebyside.json}
if [ -n "$SBS_PERF" ]; then
    command -v perf >/dev/null 2>&1 || { echo "sidebyside.sh: --perf needs perf (Debian: linux-perf)" >&2; exit 1; }
    mkdir -p "$SBS_PERF"
    SBS_PERF=$(cd "$SBS_PERF" && pwd)
fi

# --- packages -------------------------------------------------------------
# Build dependencies (DPDK, clang, ethtool, ...) come from scripts/deps.sh.
source scripts/deps.sh
# nginx-light builds its stream proxy as a dynamic module, which Debian ships
# in libnginx-mod-stream.
BENCH_PACKAGES=(nftables haproxy nginx-light libnginx-mod-stream wrk)
missing=()
for p in "${BENCH_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]} (their services are not started)"
    # Debian's maintainer scripts start haproxy and nginx through invoke-rc.d
    # unless policy-rc.d says no (exit 101). Put one in place for the install
    # when there is none, and remove it again after.
    OWN_POLICY=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# sidebyside.sh: no service starts during its install\nexit 101\n' \
            > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        OWN_POLICY=1
    fi
    install_status=0
    env DEBIAN_FRONTEND=noninteractive apt-get update -q || install_status=$?
    if [ "$install_status" = 0 ]; then
        env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 "${missing[@]}" || install_status=$?
    fi
    [ "$OWN_POLICY" = 1 ] && rm -f /usr/sbin/policy-rc.d
    if [ "$install_status" != 0 ]; then
        echo "sidebyside.sh: apt-get failed (status $install_status) installing ${missing[*]}" >&2
        exit 1
    fi
    # An existing policy-rc.d may have let them start: the benchmark runs its
    # own instances in namespaces, so the host's services stay off.
    for svc in haproxy nginx; do
        if [ -d /run/systemd/system ]; then
            systemctl disable --now "$svc" >/dev/null 2>&1 || true
        elif [ -x "/etc/init.d/$svc" ]; then
            "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
            update-rc.d "$svc" disable >/dev/null 2>&1 || true
        fi
    done
fi
for tool in nft haproxy nginx wrk taskset ethtool python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "sidebyside.sh: '$tool' is missing after the install; install it and run again" >&2
        exit 1
    fi
done
if ! nginx -V 2>&1 | tr ' ' '\n' | grep -qx -- '--with-stream' &&
    [ ! -e /usr/lib/nginx/modules/ngx_stream_module.so ]; then
    echo "sidebyside.sh: nginx has no stream module (install libnginx-mod-stream)" >&2
    exit 1
fi

# --- rvs binaries -----------------------------------------------------------
BIN="${CARGO_TARGET_DIR:-target}/release"
if [ "$BUILD" = 1 ] || [ ! -x "$BIN/rvsd" ] || [ ! -x "$BIN/rvsadm" ]; then
    echo "==> building rvsd and rvsadm (release)"
    cargo build --release --locked -p rvs --bin rvsd -p rvs-cli --bin rvsadm
fi
BIN=$(cd "$BIN" && pwd)

# --- the runs ---------------------------------------------------------------
RES=$(mktemp -d /tmp/rvs-sbs-res.XXXXXX)
STAGE_PID=""
AUTOGROUP_NICE=""
cleanup() {
    if [ -n "$STAGE_PID" ] && kill -0 "$STAGE_PID" 2>/dev/null; then
        # timeout(1) passes the signal on to the whole stage (topo.sh, lab.sh
        # and what they started), whose traps remove namespaces and processes.
        kill -TERM "$STAGE_PID" 2>/dev/null || true
        for _ in $(seq 150); do kill -0 "$STAGE_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$STAGE_PID" 2>/dev/null || true
    fi
    if [ -n "$AUTOGROUP_NICE" ]; then echo "$AUTOGROUP_NICE" > "/proc/$$/autogroup" 2>/dev/null || true; fi
    rm -rf "$RES"
}
trap cleanup EXIT
trap 'echo "sidebyside.sh: interrupted" >&2; exit 130' INT TERM

# With autogroup scheduling (sched_autogroup_enabled) the CPU is shared out
# between sessions first and a process's nice level only counts within its
# session: give this session the nice level for the runs (restored on exit).
SCHED_GROUP="none"
if [ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = 1 ] && [ -w "/proc/$$/autogroup" ]; then
    AUTOGROUP_NICE=$(sed -n 's/.* nice //p' "/proc/$$/autogroup")
    if echo "$SBS_NICE" > "/proc/$$/autogroup" 2>/dev/null; then
        SCHED_GROUP="autogroup"
    else
        AUTOGROUP_NICE=""
    fi
fi

{
    echo "load_at_start $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "cpu_model $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
    echo "cpu_count $(nproc)"
    echo "kernel $(uname -r)"
    echo "nice $SBS_NICE"
    echo "sched_group $SCHED_GROUP"
    echo "rvs_idle_sleep_us $SBS_IDLE_SLEEP_US"
    echo "rvs_dev $SBS_RVS_DEV"
    echo "rps $SBS_RPS"
    echo "versions rvs $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
        "$(nft --version 2>/dev/null | head -1)," \
        "$(haproxy -v 2>/dev/null | head -1 | cut -d' ' -f1-3)," \
        "$(nginx -v 2>&1 | head -1 | sed 's/^nginx version: //')," \
        "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
} > "$RES/machine"

total=${#CONTENDERS[@]}
i=0
for name in "${CONTENDERS[@]}"; do
    i=$((i + 1))
    topo=(--tag sbs --no-servers nat)
    [[ "$name" =~ $RVS_VARIANT ]] || topo=(--tag sbs --kernel-router --no-servers nat)
    echo "==> [$i/$total] $name: building the topology"
    # Two wrk runs plus setup, checks and teardown; the bound is generous.
    limit=$((2 * SECS + 150))
    status=0
    timeout -k 10 "$limit" bash scripts/topo/topo.sh "${topo[@]}" -- \
        bash "$HERE/sidebyside/lab.sh" "$name" "$RES" "$SECS" "$CONNS" "$BIN" "$i/$total" &
    STAGE_PID=$!
    wait "$STAGE_PID" || status=$?
    STAGE_PID=""
    if [ "$status" != 0 ]; then
        why="its stage exited with status $status"
        [ "$status" = 124 ] && why="its stage ran past ${limit}s and was stopped"
        echo "==> [$i/$total] $name: FAILED: $why" >&2
        [ -e "$RES/$name.error" ] || echo "$why" > "$RES/$name.error"
    fi
done
ip netns list 2>/dev/null | grep -q -- '-sbs-' &&
    echo "sidebyside.sh: warning: namespaces left over: $(ip netns list | grep -- '-sbs-' | tr '\n' ' ')" >&2

mkdir -p "$(dirname "$OUT")"
python3 "$HERE/sidebyside/report.py" --res "$RES" --secs "$SECS" --conns "$CONNS" \
    --contenders "$ONLY" --out "$OUT"

# Nothing of ours may listen in the host namespace (the runs used namespaces only).
if ss -Hltnp 2>/dev/null | grep -E '"(haproxy|nginx|rvsd|wrk)"' >&2; then
    echo "sidebyside.sh: warning: the listeners above are in the host namespace" \
        "(not started by this run's benchmark; stop them if the package install did)" >&2
fi
echo "==> wrote $OUT"
