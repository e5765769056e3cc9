#!/usr/bin/env python3
"""Describes the machine a benchmark run happens on, as JSON.

    python3 scripts/bench/machine.py OUT.json

Writes CPU model, cores and threads, clock, memory, kernel, Debian version,
DPDK version, rustc version, hugepages, virtualisation, load average, date
and the git commit of the repository this script lives in. Standard library
only; a fact that cannot be found is written as null, never guessed.
"""

import datetime
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*argv, cwd=None):
    """stdout of argv, stripped, or None when it cannot run or fails."""
    try:
        p = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if p.returncode != 0:
        return None
    return p.stdout.strip()


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def key_values(text, sep=":"):
    out = {}
    for line in (text or "").splitlines():
        if sep in line:
            k, v = line.split(sep, 1)
            out.setdefault(k.strip(), v.strip())
    return out


def to_int(s):
    try:
        return int(s)
    except (TypeError, ValueError):
        return None


def to_float(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def cpu():
    lscpu = key_values(run("lscpu"))
    info = read("/proc/cpuinfo") or ""
    mhz = [to_float(v) for k, v in (l.split(":", 1) for l in info.splitlines() if ":" in l)
           if k.strip() == "cpu MHz"]
    mhz = [m for m in mhz if m is not None]
    threads = to_int(lscpu.get("CPU(s)")) or os.cpu_count()
    per_core = to_int(lscpu.get("Thread(s) per core"))
    cores = None
    sockets = to_int(lscpu.get("Socket(s)"))
    per_socket = to_int(lscpu.get("Core(s) per socket"))
    if sockets and per_socket:
        cores = sockets * per_socket
    return {
        "model": lscpu.get("Model name") or key_values(info).get("model name"),
        "vendor": lscpu.get("Vendor ID"),
        "threads": threads,
        "cores": cores,
        "threads_per_core": per_core,
        "sockets": sockets,
        "numa_nodes": to_int(lscpu.get("NUMA node(s)")),
        "mhz_now": round(sum(mhz) / len(mhz), 1) if mhz else None,
        "mhz_max": to_float(lscpu.get("CPU max MHz")),
        "l3_cache": lscpu.get("L3 cache"),
        "hypervisor": lscpu.get("Hypervisor vendor"),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def memory():
    mi = key_values(read("/proc/meminfo"))

    def kib(k):
        v = mi.get(k)
        return to_int(v.split()[0]) if v else None

    total = kib("MemTotal")
    return {
        "total_gib": round(total / 1048576, 1) if total else None,
        "available_gib": round(kib("MemAvailable") / 1048576, 1) if kib("MemAvailable") else None,
        "hugepages_total": to_int(mi.get("HugePages_Total")),
        "hugepages_free": to_int(mi.get("HugePages_Free")),
        "hugepage_size_kib": kib("Hugepagesize"),
    }


def os_release():
    rel = key_values(read("/etc/os-release"), "=")
    return {
        "pretty_name": rel.get("PRETTY_NAME", "").strip('"') or None,
        "debian_version": (read("/etc/debian_version") or "").strip() or None,
        "kernel": platform.release(),
        "arch": platform.machine(),
        "vm": run("systemd-detect-virt", "--vm") or None,
        "container": run("systemd-detect-virt", "--container") or None,
    }


def git():
    g = ("git", "-c", f"safe.directory={ROOT}", "-C", ROOT)
    commit = run(*g, "rev-parse", "HEAD")
    status = run(*g, "status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit,
        "short": commit[:10] if commit else None,
        "subject": run(*g, "log", "-1", "--format=%s"),
        "dirty": bool(status) if status is not None else None,
    }


def describe():
    load = read("/proc/loadavg")
    return {
        "kind": "machine",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "cpu": cpu(),
        "memory": memory(),
        "os": os_release(),
        "dpdk": run("pkg-config", "--modversion", "libdpdk"),
        "rustc": run("rustc", "--version"),
        "cargo": run("cargo", "--version"),
        "loadavg": [to_float(x) for x in load.split()[:3]] if load else None,
        "git": git(),
    }


def main(argv):
    if len(argv) != 2 or argv[1].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    data = describe()
    os.makedirs(os.path.dirname(os.path.abspath(argv[1])), exist_ok=True)
    with open(argv[1], "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    c, m = data["cpu"], data["memory"]
    print(f"{c['model']}, {c['cores']} cores / {c['threads']} threads, "
          f"{m['total_gib']} GiB, {data['os']['pretty_name']}, kernel {data['os']['kernel']}, "
          f"DPDK {data['dpdk']}, {data['rustc']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
