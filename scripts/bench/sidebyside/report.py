#!/usr/bin/env python3
"""Turns the raw results of scripts/bench/sidebyside.sh into its JSON and table.

    report.py --res DIR --secs N --conns C --contenders rvs,nft,... --out FILE

DIR holds what sidebyside/lab.sh wrote for each contender (NAME.error,
NAME.keepalive.json, NAME.short.json, NAME.*.stat, NAME.notes) and the
`machine` file of sidebyside.sh. Writes FILE (the shape is in sidebyside.sh's
brief: kind, secs, connections, cpus, notes, contenders) and prints a table
with the ratio rvs/other for requests/s and connections/s.
"""
import argparse
import json
import os
import re
import sys

LABELS = {
    "nft": "nftables DNAT (kernel, numgen inc mod 3)",
    "haproxy": "HAProxy (mode tcp, roundrobin, nbthread 1)",
    "nginx": "nginx stream (round robin, 1 worker)",
}
# Issue 8's targets for the namespace topology: rvs/other on requests/s.
TARGETS = {"nft": 1.0, "haproxy": 2.0}


def contender_label(name, machine):
    """The table's words for a contender; rvs variants say their device and idle sleep."""
    if name in LABELS:
        return LABELS[name]
    m = re.fullmatch(r"rvs(?:-(af_packet|af_xdp))?(?:-sleep(\d+))?", name)
    if not m:
        return name
    dev = m.group(1) or machine.get("rvs_dev", "af_packet")
    sleep = m.group(2) or machine.get("rvs_idle_sleep_us", "0")
    return f"rvs (LVS-NAT, 1 worker, {dev}, sleep {sleep})"


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def cpu_busy(stat_text):
    """{cpu: (busy %, softirq %)} between the two snapshots of a .stat file."""
    if not stat_text:
        return {}
    snaps = {}
    for line in stat_text.splitlines():
        f = line.split()
        if len(f) < 9:
            continue
        snaps.setdefault(f[0], []).append([int(x) for x in f[1:9]])
    out = {}
    for cpu, (a, b, *_) in ((c, s) for c, s in snaps.items() if len(s) >= 2):
        d = [y - x for x, y in zip(a, b)]
        total = sum(d)
        if total <= 0:
            continue
        idle = d[3] + d[4]  # idle + iowait
        out[cpu] = (100.0 * (total - idle) / total, 100.0 * d[6] / total)
    return out


def sched_share(text):
    """(on-CPU %, waiting-for-CPU %) of the contender's threads on CPU 1."""
    if not text:
        return None
    rows = [[int(x) for x in line.split()] for line in text.splitlines() if len(line.split()) == 3]
    if len(rows) < 2 or rows[1][0] <= rows[0][0]:
        return None
    wall = rows[1][0] - rows[0][0]
    return (100.0 * (rows[1][1] - rows[0][1]) / wall, 100.0 * (rows[1][2] - rows[0][2]) / wall)


def ipis(text, requests):
    """Cross-CPU interrupts per request: {"CAL": (cpu0, cpu1), "RES": (cpu0, cpu1)}."""
    if not text or requests <= 0:
        return {}
    seen = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) == 3 and f[0] in ("CAL:", "RES:"):
            seen.setdefault(f[0][:-1], []).append((int(f[1]), int(f[2])))
    return {k: tuple((b - a) / requests for a, b in zip(v[0], v[1]))
            for k, v in seen.items() if len(v) == 2}


def run_result(raw, rate_key):
    """The contender's figures for one wrk run, and why it failed if it did."""
    secs = raw["duration_us"] / 1e6
    good = raw["requests"] - raw["status"]
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"] + raw["status"]
    result = {
        rate_key: round(good / secs, 1) if secs > 0 else 0.0,
        "p50_ms": round(raw["p50_us"] / 1000, 3),
        "p90_ms": round(raw["p90_us"] / 1000, 3),
        "p99_ms": round(raw["p99_us"] / 1000, 3),
        "requests": raw["requests"],
        "errors": errors,
    }
    problem = None
    if good <= 0:
        problem = "no successful request"
    elif errors > good:
        problem = f"{errors} errors against {good} good answers"
    detail = ", ".join(f"{k} {raw[k]}" for k in ("connect", "read", "write", "timeout", "status") if raw[k])
    return result, problem, detail


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--res", required=True)
    ap.add_argument("--secs", type=int, required=True)
    ap.add_argument("--conns", type=int, required=True)
    ap.add_argument("--contenders", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    machine = {}
    for line in (read(os.path.join(a.res, "machine")) or "").splitlines():
        key, _, value = line.partition(" ")
        machine[key] = value.strip()
    model = machine.get("cpu_model", "unknown CPU")
    idle = machine.get("rvs_idle_sleep_us", "0")
    dev = machine.get("rvs_dev", "af_packet")
    ncpu = machine.get("cpu_count", "?")

    notes = [
        f"Machine: {model}, {ncpu} CPUs, kernel {machine.get('kernel', '?')}; load average at start "
        f"{machine.get('load_at_start', '?')} (the machine is shared: other work can disturb the figures).",
        "Equal cores on a 2-CPU machine: everything the director does runs on CPU 1, everything else on "
        "CPU 0. rvs: rvsd's one worker lcore pinned to CPU 1 (workers.cpus), "
        + ("busy-polling (idle_sleep_us 0)" if idle == "0" else
           f"napping {idle} us after an empty poll round (idle_sleep_us {idle})")
        + f", its ports on the veths through net_{dev}"
        + (" with the veths' NAPI threads (the kernel's receive work for them) pinned to CPU 1"
           if dev == "af_xdp" else "")
        + " (rvs variants in the table say their own device and idle sleep); its control core on "
        "CPU 0. HAProxy (nbthread 1) and nginx (worker_processes 1) under "
        "taskset -c 1. nftables has no process: the kernel does the DNAT in softirq on the CPU that "
        "receives the packet, "
        + ("and RPS on the director's two veths steers that to CPU 1; RPS on every other veth keeps "
           "the client's and the real servers' packet work on CPU 0." if machine.get("rps", "1") == "1" else
           "and with --no-rps that is the sending CPU (mostly CPU 0): the director's kernel work is "
           "not confined to CPU 1 in this run."),
        f"Every process of the benchmark (wrk, real servers, contenders) ran at nice "
        f"{machine.get('nice', '?')}"
        + (" and so did its session's scheduler autogroup (with autogroups the CPU is shared between "
           "sessions first)" if machine.get("sched_group") == "autogroup" else "")
        + ", so that other work on the shared machine took less of its CPUs; kernel softirq work runs "
        "at interrupt exit whatever the nice level.",
        "CPU 0 carries the whole load side: wrk (1 thread), three nginx real servers (1 worker each) and "
        "the client's and servers' TCP stacks. Where CPU 0 is saturated and CPU 1 is not, the load side "
        "limits the figure, not the director (see the CPU notes per run).",
        "rvs reaches the veths through a kernel socket, not a NIC: net_af_xdp (native veth XDP hands "
        "each frame to an AF_XDP socket; copy mode, as veth has no zero-copy) or net_af_packet (a "
        "packet-socket ring). Either way the kernel copies every packet in and out, on CPU 1, where it "
        "shares the CPU with the worker.",
        "Latency is wrk's: from writing a request to the end of its response; in the short run the TCP "
        "handshake comes before it and is not counted.",
        "Short connections: wrk cannot pick its source address, so every connection comes from one client "
        "address (198.18.0.2); tcp_tw_reuse=1 and ip_local_port_range 1024-65535 in the client and "
        "director namespaces. The real servers close first, so TIME_WAIT lands on them (and on a "
        "proxy's client side), not on the client.",
        f"Real servers: nginx, 64-byte body naming the server; load: wrk -t1 -c{a.conns} -d{a.secs}s "
        "--timeout 2s, keep-alive then 'Connection: close'. Each contender runs in a fresh topology.",
    ]
    if machine.get("versions"):
        notes.append(f"Versions: {machine['versions']}.")

    contenders = []
    for name in a.contenders.split(","):
        entry = {"name": name, "label": contender_label(name, machine), "ok": True, "error": None,
                 "keepalive": None, "short": None}
        err = read(os.path.join(a.res, f"{name}.error"))
        problems = [err.strip()] if err else []
        for kind, rate_key in (("keepalive", "rps"), ("short", "cps")):
            raw = read(os.path.join(a.res, f"{name}.{kind}.json"))
            if raw is None:
                continue
            try:
                result, problem, detail = run_result(json.loads(raw), rate_key)
            except (ValueError, KeyError) as e:
                problems.append(f"{kind}: unreadable wrk summary ({e})")
                continue
            entry[kind] = result
            if problem:
                problems.append(f"{kind}: {problem}")
            if detail:
                notes.append(f"{name} {kind}: wrk errors: {detail}.")
            busy = cpu_busy(read(os.path.join(a.res, f"{name}.{kind}.stat")))
            sched = sched_share(read(os.path.join(a.res, f"{name}.{kind}.sched")))
            if busy:
                line = f"{name} {kind}: " + ", ".join(
                    f"{cpu.upper()} busy {b:.0f}% (softirq {s:.0f}%)" for cpu, (b, s) in sorted(busy.items()))
                if sched:
                    line += (f"; {name}'s threads on CPU 1 ran {sched[0]:.0f}% of the time and waited for "
                             f"the CPU {sched[1]:.0f}%")
                per = ipis(read(os.path.join(a.res, f"{name}.{kind}.ipi")), result["requests"])
                if "CAL" in per:
                    c0, c1 = per["CAL"]
                    line += (f"; function-call IPIs (RPS hand-overs) per request: {c0:.2f} to CPU0, "
                             f"{c1:.2f} to CPU1")
                notes.append(line)
        if not problems and (entry["keepalive"] is None or entry["short"] is None):
            problems.append("no wrk result")
        if problems:
            entry["ok"] = False
            entry["error"] = "; ".join(problems)
        for line in (read(os.path.join(a.res, f"{name}.notes")) or "").splitlines():
            if line.strip():
                notes.append(line.strip())
        contenders.append(entry)

    by_name = {c["name"]: c for c in contenders}
    rvs = by_name.get("rvs")

    def rate(c, kind, key):
        return c[kind][key] if c and c["ok"] and c[kind] else None

    def ratio(c, kind, key):
        mine, theirs = rate(rvs, kind, key), rate(c, kind, key)
        return mine / theirs if mine and theirs else None

    for other, target in TARGETS.items():
        if other not in by_name or rvs is None:
            continue
        r = ratio(by_name[other], "keepalive", "rps")
        if r is None:
            notes.append(f"Target rvs >= {target:g}x {other} on req/s: not measured (a run failed).")
        elif r >= target:
            notes.append(f"Target rvs >= {target:g}x {other} on req/s: met ({r:.2f}x).")
        else:
            notes.append(f"Target rvs >= {target:g}x {other} on req/s: missed ({r:.2f}x, "
                         f"{100 * (1 - r / target):.0f}% short).")

    doc = {"kind": "sidebyside", "secs": a.secs, "connections": a.conns,
           "cpus": f"{model}, {ncpu} CPUs", "notes": notes, "contenders": contenders}
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")

    def num(v, fmt):
        width = int(fmt.split(".")[0].rstrip("df"))
        return format(v, fmt) if v is not None else "-".rjust(width)

    print()
    head = (f"{'contender':<44} {'req/s':>9} {'p50ms':>7} {'p99ms':>7} {'err':>6}   "
            f"{'conn/s':>8} {'p50ms':>7} {'p99ms':>7} {'err':>6}   {'rvs/x req/s':>11} {'rvs/x conn/s':>12}")
    print(head)
    print("-" * len(head))
    for c in contenders:
        k, s = c["keepalive"] or {}, c["short"] or {}
        rr = ratio(c, "keepalive", "rps") if c["name"] != "rvs" else None
        rc = ratio(c, "short", "cps") if c["name"] != "rvs" else None
        label = (c["label"] if c["ok"] else "FAILED " + c["label"])[:44]
        print(f"{label:<44} {num(k.get('rps'), '9.0f')} {num(k.get('p50_ms'), '7.3f')} "
              f"{num(k.get('p99_ms'), '7.3f')} {num(k.get('errors'), '6d')}   "
              f"{num(s.get('cps'), '8.0f')} {num(s.get('p50_ms'), '7.3f')} {num(s.get('p99_ms'), '7.3f')} "
              f"{num(s.get('errors'), '6d')}   {num(rr, '11.2f')} {num(rc, '12.2f')}")
    for c in contenders:
        if not c["ok"]:
            print(f"  {c['name']} failed: {c['error']}")
    print()
    for n in notes:
        if n.startswith("Target"):
            print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
