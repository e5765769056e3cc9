#!/usr/bin/env bash
# One contender of scripts/bench/sidebyside.sh, run by scripts/topo/topo.sh
# inside a fresh topology (TOPO_* set; real servers not started by topo.sh):
# steers packet work to CPUs, starts nginx real servers, starts and checks the
# contender, runs wrk twice (keep-alive, then a new connection per request)
# and leaves raw results for report.py in RESDIR. Everything it starts is
# stopped on exit, also on failure or SIGTERM.
#
#   lab.sh NAME RESDIR SECS CONNS BINDIR STEP
#
# NAME is rvs, nft, haproxy or nginx, or an rvs variant rvs-DEV, rvs-sleepU or
# rvs-DEV-sleepU (DEV af_packet or af_xdp, U idle_sleep_us) that overrides the
# device or the idle sleep of the run; BINDIR holds rvsd and rvsadm; STEP is
# "i/n" for the progress lines. From sidebyside.sh's environment:
# SBS_RVS_DEV (af_packet or af_xdp: how rvsd's ports reach the veths),
# SBS_AF_PACKET_ARGS and SBS_AF_XDP_ARGS (extra devargs for that PMD),
# SBS_IDLE_SLEEP_US and SBS_BURST (rvsd's workers), SBS_RPS (0: no RPS on the
# director's veths), SBS_NICE (nice level of every process started), SBS_PERF
# (a directory: perf profiles of the director's CPU during each run).
# Files written to RESDIR, all prefixed NAME.:
#   error                  one line, when the contender could not be measured
#   keepalive.json, short.json   wrk's summary (wrk-json.lua's JSON line)
#   keepalive.stat, short.stat   /proc/stat cpu0/cpu1 lines before and after
#   keepalive.ipi, short.ipi     /proc/interrupts CAL/RES counts before and after
#   notes                  lines for the report's notes
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=$1 RES=$2 SECS=$3 CONNS=$4 BIN=$5 STEP=$6
# BASE is the contender (rvs for every rvs variant); RVS_DEV and RVS_SLEEP are
# the rvs run's device and idle sleep, from the variant's name or the defaults.
BASE=$NAME
RVS_DEV=${SBS_RVS_DEV:-af_xdp}
RVS_SLEEP=${SBS_IDLE_SLEEP_US:-10}
if [[ "$NAME" =~ ^rvs(-(af_packet|af_xdp))?(-sleep([0-9]+))?$ ]]; then
    BASE=rvs
    RVS_DEV=${BASH_REMATCH[2]:-$RVS_DEV}
    RVS_SLEEP=${BASH_REMATCH[4]:-$RVS_SLEEP}
fi

VIP=$TOPO_VIP
read -r -a RIPS <<< "$TOPO_RIPS"
read -r -a CIPS <<< "$TOPO_CIPS"
RSNS=("$TOPO_RS1" "$TOPO_RS2" "$TOPO_RS3")
WORK=$(mktemp -d /tmp/rvs-sbs.XXXXXX)
chmod 755 "$WORK"
PIDS=()
CONTENDER_PID=""  # the contender's process, where it has one
KTHREADS=()       # kernel threads doing the contender's work (af_xdp's NAPI threads)
LOAD_CPU=0      # wrk, the real servers and their packet work
DIRECTOR_CPU=1  # the contender's packet work
# Every process of the benchmark runs at this nice level, so that other work
# on a shared machine takes less of its CPUs (the same for every contender).
NICE=${SBS_NICE:-0}

say() { echo "==> [$STEP] $NAME: $*"; }
note() { echo "$*" >> "$RES/$NAME.notes"; }
fail() {
    echo "$*" > "$RES/$NAME.error"
    say "FAILED: $*" >&2
    exit 1
}

# Stops what this stage started: TERM, up to 5 s, then KILL, for each pid and
# the children it had (nginx's workers).
cleanup() {
    local all=() p
    for p in "${PIDS[@]}"; do
        all+=("$p")
        while read -r c; do all+=("$c"); done < <(pgrep -P "$p" 2>/dev/null || true)
    done
    for p in "${all[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${all[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# wait_listen NS ADDR:PORT SECONDS: true once something listens there.
wait_listen() {
    local i
    for i in $(seq $(($3 * 10))); do
        ip netns exec "$1" ss -Hltn "src $2" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

# --- CPU steering -----------------------------------------------------------
# Two CPUs: the director's work on DIRECTOR_CPU, the rest on LOAD_CPU. A veth
# receives a packet on the CPU that sent it, so without RPS the kernel's
# routing/NAT work (nftables) and the proxies' TCP receive work would run on
# the sender's CPU. RPS moves each veth's receive processing: the director's
# two veths to DIRECTOR_CPU, every other veth to LOAD_CPU.
rps() {
    ip netns exec "$1" sh -c "echo $3 > /sys/class/net/$2/queues/rx-0/rps_cpus"
}
if [ "${SBS_RPS:-1}" = 1 ]; then
    rps "$TOPO_LB" "$TOPO_LB_CLIENT_IF" $((1 << DIRECTOR_CPU))
    rps "$TOPO_LB" "$TOPO_LB_SERVER_IF" $((1 << DIRECTOR_CPU))
else
    note "$NAME: --no-rps: the director's receive work ran on the sending CPU, not CPU $DIRECTOR_CPU"
fi
rps "$TOPO_CL" cl-front $((1 << LOAD_CPU))
rps "$TOPO_CL" cl-back $((1 << LOAD_CPU))
for dev in sw-lb sw-cl sw-rs1 sw-rs2 sw-rs3; do rps "$TOPO_SW" "$dev" $((1 << LOAD_CPU)); done
for ns in "${RSNS[@]}"; do rps "$ns" eth0 $((1 << LOAD_CPU)); done

# The client makes a new connection per request in the short run: reuse
# TIME_WAIT ports and use the whole port range. The proxies connect to the
# real servers just as often, so the director gets the same.
for ns in "$TOPO_CL" "$TOPO_LB"; do
    ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65535"
done
# As many descriptors as allowed (the proxies hold two per connection).
ulimit -n "$(ulimit -Hn)"

# --- real servers: nginx, one worker on LOAD_CPU, 64-byte body naming it ------
for i in 0 1 2; do
    rs=rs$((i + 1))
    body=$(printf '%-63s' "$rs")  # "rs1" padded to 63 bytes, plus the newline
    cat > "$WORK/$rs.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/$rs.pid;
error_log $WORK/$rs.error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 8000; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    default_type text/plain;
    server {
        listen ${RIPS[$i]}:80 backlog=4096;
        location / {
            add_header X-RS $rs;
            return 200 "$body\n";
        }
    }
}
EOF
    ip netns exec "${RSNS[$i]}" sysctl -qw net.core.somaxconn=4096
    ip netns exec "${RSNS[$i]}" nice -n "$NICE" taskset -c "$LOAD_CPU" \
        nginx -p "$WORK" -e "$WORK/$rs.error.log" -c "$WORK/$rs.conf" > "$WORK/$rs.out" 2>&1 &
    PIDS+=($!)
done
for i in 0 1 2; do
    wait_listen "${RSNS[$i]}" "${RIPS[$i]}:80" 10 ||
        fail "real server rs$((i + 1)) (nginx) did not listen on ${RIPS[$i]}:80: $(cat "$WORK"/rs$((i + 1)).error.log "$WORK"/rs$((i + 1)).out 2>/dev/null | tail -3 | tr '\n' ' ')"
done
say "real servers up (nginx on ${RIPS[*]}, CPU $LOAD_CPU)"

# --- the contender ----------------------------------------------------------
rvsadm() { "$BIN/rvsadm" --socket "$WORK/rvsd.sock" "$@"; }
# net_af_xdp on a veth: the PMD attaches an XDP program (native veth XDP) that
# hands every received frame to the port's AF_XDP socket. veth runs XDP in its
# NAPI poll, which veth_xmit schedules on the sending CPU (CPU 0, the load
# side): left there, the director's receive work (XDP, the copy into the
# socket's memory) would be done by the load CPU, which RPS cannot move (it
# comes after XDP). Threaded NAPI gives each of the director's two veths a
# kernel thread "napi/IFNAME-ID", and those are pinned to DIRECTOR_CPU at the
# benchmark's nice level, so the director's CPU does its own receive work, as
# it does for the other contenders. The threads appear once the XDP program is
# attached (rvsd up), and their names are cut to 15 characters (and other
# topologies have veths of the same names): ours are the ones that were not
# there before.
napi_threads() {
    local dev comm
    for dev in "$TOPO_LB_CLIENT_IF" "$TOPO_LB_SERVER_IF"; do
        comm="napi/$dev-"
        pgrep -x -d' ' "${comm:0:15}.*" 2>/dev/null || true
    done | tr '\n' ' '
}
NAPI_BEFORE=""
xdp_napi_to_director() {
    local p dev mine=()
    for dev in "$TOPO_LB_CLIENT_IF" "$TOPO_LB_SERVER_IF"; do
        ip netns exec "$TOPO_LB" sh -c "echo 1 > /sys/class/net/$dev/threaded" ||
            fail "cannot switch $dev to threaded NAPI"
    done
    for p in $(napi_threads); do
        [[ " $NAPI_BEFORE " == *" $p "* ]] || mine+=("$p")
    done
    [ ${#mine[@]} = 2 ] ||
        fail "expected 2 new NAPI threads for $TOPO_LB_CLIENT_IF and $TOPO_LB_SERVER_IF, found ${#mine[@]} (${mine[*]:-none})"
    for p in "${mine[@]}"; do
        taskset -pc "$DIRECTOR_CPU" "$p" > /dev/null || fail "cannot pin NAPI thread $p to CPU $DIRECTOR_CPU"
        renice -n "$NICE" -p "$p" > /dev/null || fail "cannot renice NAPI thread $p"
    done
    KTHREADS=("${mine[@]}")
    say "NAPI threads of the director's veths (pids ${mine[*]}) pinned to CPU $DIRECTOR_CPU, nice $NICE"
    note "$NAME: the CPU-time figures of $NAME's threads include the two NAPI threads."
}
# AF_XDP hands the peer's frames to rvsd as they are: a peer with tx checksum
# offload sends TCP with a partial checksum, which rvsd forwards unfixed and the
# receiver drops. topo.sh turns the offloads off; check that it did.
tx_csum_off() {
    ip netns exec "$1" ethtool -k "$2" 2>/dev/null | grep -q '^tx-checksumming: off' ||
        fail "tx checksum offload is on on $2 (the director's peer): TCP through af_xdp would carry partial checksums"
}
case "$BASE" in
rvs)
    case "$RVS_DEV" in
    af_packet)
        extra=${SBS_AF_PACKET_ARGS:+,$SBS_AF_PACKET_ARGS}
        dev_client="net_af_packet0,iface=$TOPO_LB_CLIENT_IF$extra"
        dev_server="net_af_packet1,iface=$TOPO_LB_SERVER_IF$extra"
        note "$NAME: rvsd's ports are net_af_packet on the director's veths ($dev_client;" \
            "$dev_server): the kernel copies every packet into and out of a packet-socket ring" \
            "(receive in softirq, transmit in rvsd's sendto)."
        ;;
    af_xdp)
        extra=${SBS_AF_XDP_ARGS:+,$SBS_AF_XDP_ARGS}
        dev_client="net_af_xdp0,iface=$TOPO_LB_CLIENT_IF,start_queue=0,queue_count=1$extra"
        dev_server="net_af_xdp1,iface=$TOPO_LB_SERVER_IF,start_queue=0,queue_count=1$extra"
        tx_csum_off "$TOPO_CL" cl-front
        tx_csum_off "$TOPO_SW" sw-lb
        NAPI_BEFORE=$(napi_threads)
        # The socket's memory (UMEM) counts against RLIMIT_MEMLOCK unless
        # rvsd has CAP_IPC_LOCK: raise the soft limit as far as allowed.
        ulimit -l "$(ulimit -Hl)" 2>/dev/null || true
        note "$NAME: rvsd's ports are net_af_xdp on the director's veths ($dev_client;" \
            "$dev_server): native veth XDP hands frames to AF_XDP sockets (copy mode), the veths'" \
            "NAPI threads pinned to CPU $DIRECTOR_CPU do that receive work, rvsd's sendto the transmit."
        ;;
    *) fail "unknown rvs device '$RVS_DEV' (af_packet, af_xdp)" ;;
    esac
    cat > "$WORK/rvsd.ron" <<RON
(
    eal: ["--no-huge", "-m", "512", "--no-pci", "--file-prefix", "rvs-sbs-$$", "--log-level", "lib.eal:warning"],
    interfaces: [
        (name: "client", device: "$dev_client",
         addresses: ["$TOPO_DIP_CLIENT/24", "$VIP/32"]),
        (name: "server", device: "$dev_server",
         addresses: ["$TOPO_DIP_SERVER/24"]),
    ],
    // One worker on the director's CPU (idle_sleep_us 0: busy polling); the
    // control core on the load CPU, where it only wakes now and then.
    workers: (main_lcore: 0, main_cpu: $LOAD_CPU, lcores: [1], cpus: [$DIRECTOR_CPU], burst: ${SBS_BURST:-32}, idle_sleep_us: $RVS_SLEEP),
    mempool: (mbufs: 16383),
    max_conns: 262144,
    admin_socket: "$WORK/rvsd.sock",
)
RON
    ip netns exec "$TOPO_LB" nice -n "$NICE" "$BIN/rvsd" --config "$WORK/rvsd.ron" > "$WORK/rvsd.out" 2> "$WORK/rvsd.log" &
    PIDS+=($!)
    CONTENDER_PID=$!
    for _ in $(seq 150); do
        grep -q "rvsd running" "$WORK/rvsd.log" 2>/dev/null && break
        kill -0 "${PIDS[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    grep -q "rvsd running" "$WORK/rvsd.log" ||
        fail "rvsd did not start: $(tail -3 "$WORK/rvsd.log" | tr '\n' ' ')"
    [ "$RVS_DEV" != af_xdp ] || xdp_napi_to_director
    rvsadm -A -t "$VIP:80" -s rr
    for rip in "${RIPS[@]}"; do rvsadm -a -t "$VIP:80" -r "$rip:80" -m; done
    say "rvsd up: LVS-NAT $VIP:80 rr over ${RIPS[*]}, $RVS_DEV, worker lcore on CPU $DIRECTOR_CPU" \
        "(burst ${SBS_BURST:-32}, idle_sleep_us $RVS_SLEEP)"
    note "$NAME: rvsd's worker: burst ${SBS_BURST:-32}, idle_sleep_us $RVS_SLEEP" \
        "$([ "$RVS_SLEEP" = 0 ] && echo "(busy polling)" || echo "(naps $RVS_SLEEP us after a poll round that found nothing)")."
    ;;
nft)
    cat > "$WORK/nat.nft" <<EOF
table ip sbs {
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr $VIP tcp dport 80 dnat to numgen inc mod 3 map { 0 : ${RIPS[0]}, 1 : ${RIPS[1]}, 2 : ${RIPS[2]} }
    }
}
EOF
    ip netns exec "$TOPO_LB" nft -f "$WORK/nat.nft" || fail "nft refused the DNAT ruleset"
    say "nftables DNAT $VIP:80 -> numgen inc mod 3 over ${RIPS[*]} (kernel router; softirq on CPU $DIRECTOR_CPU via RPS)"
    ;;
haproxy)
    ip -n "$TOPO_LB" addr add "$VIP/32" dev "$TOPO_LB_CLIENT_IF"
    cat > "$WORK/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 8000
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend vip
    bind $VIP:80
    default_backend rs
backend rs
    balance roundrobin
    server rs1 ${RIPS[0]}:80
    server rs2 ${RIPS[1]}:80
    server rs3 ${RIPS[2]}:80
EOF
    ip netns exec "$TOPO_LB" nice -n "$NICE" taskset -c "$DIRECTOR_CPU" haproxy -db -f "$WORK/haproxy.cfg" \
        > "$WORK/haproxy.log" 2>&1 &
    PIDS+=($!)
    CONTENDER_PID=$!
    wait_listen "$TOPO_LB" "$VIP:80" 10 ||
        fail "haproxy did not listen on $VIP:80: $(tail -3 "$WORK/haproxy.log" | tr '\n' ' ')"
    say "haproxy up: mode tcp, roundrobin over ${RIPS[*]}, 1 thread on CPU $DIRECTOR_CPU"
    ;;
nginx)
    ip -n "$TOPO_LB" addr add "$VIP/32" dev "$TOPO_LB_CLIENT_IF"
    load=""
    if ! nginx -V 2>&1 | tr ' ' '\n' | grep -qx -- '--with-stream'; then
        load="load_module /usr/lib/nginx/modules/ngx_stream_module.so;"
    fi
    cat > "$WORK/lb-nginx.conf" <<EOF
$load
worker_processes 1;
daemon off;
pid $WORK/lb-nginx.pid;
error_log $WORK/lb-nginx.error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 8000; }
stream {
    upstream rs {
        server ${RIPS[0]}:80;
        server ${RIPS[1]}:80;
        server ${RIPS[2]}:80;
    }
    server {
        listen $VIP:80 backlog=4096;
        proxy_pass rs;
        proxy_connect_timeout 5s;
        proxy_timeout 30s;
    }
}
EOF
    ip netns exec "$TOPO_LB" sysctl -qw net.core.somaxconn=4096
    ip netns exec "$TOPO_LB" nice -n "$NICE" taskset -c "$DIRECTOR_CPU" \
        nginx -p "$WORK" -e "$WORK/lb-nginx.error.log" -c "$WORK/lb-nginx.conf" > "$WORK/lb-nginx.out" 2>&1 &
    PIDS+=($!)
    CONTENDER_PID=$!
    wait_listen "$TOPO_LB" "$VIP:80" 10 ||
        fail "nginx stream did not listen on $VIP:80: $(cat "$WORK/lb-nginx.error.log" "$WORK/lb-nginx.out" 2>/dev/null | tail -3 | tr '\n' ' ')"
    say "nginx stream up: round robin over ${RIPS[*]}, 1 worker on CPU $DIRECTOR_CPU"
    ;;
*) fail "unknown contender $NAME" ;;
esac

# --- every real server reachable through the contender ----------------------
# Six new connections, round robin: each of rs1..rs3 must answer.
say "checking that the VIP reaches all three real servers"
seen=()
errors=0
while read -r _ _ status rs _; do
    if [ "$status" = ok ]; then seen+=("$rs"); else errors=$((errors + 1)); fi
done < <(timeout 30 $TOPO_CLIENT http --src "${CIPS[0]}" --dst "$VIP" --port 80 -n 6 --timeout 3 || true)
names=$(printf '%s\n' "${seen[@]}" | sort -u | tr '\n' ' ')
if [ "$names" != "rs1 rs2 rs3 " ] || [ "$errors" != 0 ]; then
    fail "the VIP did not reach all three real servers (answered by: ${names:-none}; $errors of 6 requests failed)"
fi
say "all three answer (${seen[*]})"

# --- load ---------------------------------------------------------------------
cpu_stat() { grep -E "^cpu($LOAD_CPU|$DIRECTOR_CPU) " /proc/stat; }
# Cross-CPU interrupts so far: function calls (RPS hands packets over with
# them) and reschedules (wakeups), per CPU.
ipi_count() { grep -E "^ *(CAL|RES):" /proc/interrupts | awk '{print $1, $2, $3}'; }
interfaces() { [ "$BASE" = rvs ] && rvsadm -L --interfaces 2>&1 | sed "s/^/$1 /" >> "$WORK/rvs-ifs"; true; }
# The contender's threads on DIRECTOR_CPU: "now_ns runtime_ns run_delay_ns"
# summed from /proc/PID/task/TID/schedstat (time on the CPU, time runnable but
# waiting for it), to tell a busy contender from one the scheduler held back.
# Kernel threads doing its work (KTHREADS) count as its threads.
sched_sample() {
    local now run=0 delay=0 p t r d _
    now=$(date +%s%N)
    if [ -n "$CONTENDER_PID" ]; then
        for p in "$CONTENDER_PID" $(pgrep -P "$CONTENDER_PID" 2>/dev/null || true) "${KTHREADS[@]}"; do
            for t in /proc/"$p"/task/*; do
                grep -qx "Cpus_allowed_list:[[:space:]]*$DIRECTOR_CPU" "$t/status" 2>/dev/null || continue
                read -r r d _ < "$t/schedstat" 2>/dev/null || continue
                run=$((run + r)) delay=$((delay + d))
            done
        done
    fi
    echo "$now $run $delay"
}
# run_wrk KIND [wrk options]: one wrk run of SECS seconds from the client
# namespace, one thread on LOAD_CPU; its summary goes to RES/NAME.KIND.json.
run_wrk() {
    local kind=$1 status=0
    shift
    cpu_stat > "$RES/$NAME.$kind.stat"
    ipi_count > "$RES/$NAME.$kind.ipi"
    [ -z "$CONTENDER_PID" ] || sched_sample > "$RES/$NAME.$kind.sched"
    interfaces "$kind-before"
    local perf_pid=""
    if [ -n "${SBS_PERF:-}" ]; then
        # A profile of the director's CPU, all of it (softirq included), for
        # the middle of the run.
        timeout -k 5 $((SECS + 20)) perf record -q -C "$DIRECTOR_CPU" -g \
            -o "$SBS_PERF/$NAME.$kind.perf.data" -- sleep "$(( SECS > 2 ? SECS - 1 : 1 ))" \
            > "$WORK/perf-$kind.out" 2>&1 &
        perf_pid=$!
    fi
    timeout -k 5 $((SECS + 30)) ip netns exec "$TOPO_CL" nice -n "$NICE" taskset -c "$LOAD_CPU" \
        wrk -t1 -c"$CONNS" -d"${SECS}s" --timeout 2s --latency -s "$HERE/wrk-json.lua" "$@" \
        "http://$VIP/" > "$WORK/wrk-$kind.out" 2>&1 || status=$?
    cpu_stat >> "$RES/$NAME.$kind.stat"
    ipi_count >> "$RES/$NAME.$kind.ipi"
    [ -z "$CONTENDER_PID" ] || sched_sample >> "$RES/$NAME.$kind.sched"
    if [ -n "$perf_pid" ]; then
        wait "$perf_pid" || true
        timeout 120 perf report -i "$SBS_PERF/$NAME.$kind.perf.data" --stdio --no-children \
            --sort comm,dso,sym -g none --percent-limit 0.5 \
            > "$SBS_PERF/$NAME.$kind.txt" 2> /dev/null || true
    fi
    interfaces "$kind-after"
    if ! grep '^SBSJSON ' "$WORK/wrk-$kind.out" | sed 's/^SBSJSON //' > "$RES/$NAME.$kind.json" ||
        [ ! -s "$RES/$NAME.$kind.json" ]; then
        rm -f "$RES/$NAME.$kind.json"
        fail "wrk ($kind) gave no summary (status $status): $(tail -3 "$WORK/wrk-$kind.out" | tr '\n' ' ')"
    fi
    sed 's/^/    /' "$WORK/wrk-$kind.out" | grep -v SBSJSON | grep -E 'Requests/sec|Socket errors|Non-2xx|requests in' || true
}
tw() { ip netns exec "$1" ss -Htan state time-wait 2>/dev/null | wc -l; }

say "keep-alive: wrk -t1 -c$CONNS -d${SECS}s"
run_wrk keepalive
say "short connections: wrk -t1 -c$CONNS -d${SECS}s -H 'Connection: close'"
run_wrk short -H "Connection: close"
rs_tw=$(( $(tw "${RSNS[0]}") + $(tw "${RSNS[1]}") + $(tw "${RSNS[2]}") ))
note "$NAME: TIME_WAIT sockets after the short run: client $(tw "$TOPO_CL"), director $(tw "$TOPO_LB"), real servers $rs_tw"
if [ "$BASE" = rvs ]; then
    rvsadm -Ln --stats > "$WORK/rvs-stats" 2>&1 || true
    sed 's/^/    /' "$WORK/rvs-stats"
    # Packets and drops (af_packet ring overruns, no mbufs) per port and run.
    python3 - "$WORK/rvs-ifs" "$NAME" >> "$RES/$NAME.notes" <<'EOF' || true
import sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) > 8 and f[1] in ("client", "server"):
        rows.setdefault(f[0], {})[f[1]] = [int(x) for x in f[6:9]]
for kind in ("keepalive", "short"):
    a, b = rows.get(kind + "-before", {}), rows.get(kind + "-after", {})
    parts = []
    for port in ("client", "server"):
        if port in a and port in b:
            rx, tx, drop = (y - x for x, y in zip(a[port], b[port]))
            parts.append(f"{port} port rx {rx} tx {tx} dropped {drop}")
    if parts:
        print(f"{sys.argv[2]} {kind}: rvsd counted " + ", ".join(parts))
EOF
fi
say "done"
