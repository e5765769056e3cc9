#!/usr/bin/env python3
"""Turns one benchmark run's raw results into BENCHMARKS.md and PNG plots.

    /usr/bin/python3 scripts/bench/report.py DIR [--md FILE] [--img-dir DIR] [--notes FILE]
    /usr/bin/python3 scripts/bench/report.py --selftest

DIR is what scripts/bench.sh filled (default target/bench-results):
machine.json, criterion/ (criterion's estimates), worker_rate.json,
linerate.json, sidebyside.json, scaling.json, steps.tsv and run.tsv. Any of
them may be missing: its section then says "not run" and why (from
steps.tsv when the step was skipped or failed).

--md FILE      the report (default BENCHMARKS.md at the repository root)
--img-dir DIR  the plots (default benchmarks/ next to the report)
--notes FILE   markdown appended as the "Notes" section (bench.sh passes
               benchmarks/notes.md when it exists: profiles, explanations)
--selftest     builds a small result set in a temporary directory, renders
               it and checks the output (nothing is written to the repository)

The JSON inputs other than criterion's:

  worker_rate.json  {"kind":"worker_rate","frame":64,"secs":S,"variants":[
                     {"name":..,"rvs_pps":..,"ceiling_pps":..,"ratio":..,"lost":..}]}
  linerate.json     {"kind":"linerate","workers":1,"secs":S,
                     "ceiling":[{"frame","flows","proto","tx_pps","rx_pps","loss"}],
                     "runs":[{"method","proto","frame","flows","tx_pps","rx_pps","loss",
                              "ceiling_rx_pps","ratio"}],
                     "cps":[{"method","conns","cps","ceiling_rx_pps","ratio"}],
                     "notes":[..]}                     (loss is a fraction, 0..1)
  sidebyside.json   {"kind":"sidebyside","secs","connections","cpus","notes",
                     "contenders":[{"name","label","ok","error",
                       "keepalive":{"rps","p50_ms","p90_ms","p99_ms","requests","errors"},
                       "short":{"cps","p50_ms","p90_ms","p99_ms","requests","errors"}}]}
  scaling.json      {"kind":"scaling","notes":[..],"series":[{"name","unit":"pps",
                       "points":[{"workers":1,"rate":..}, ..]}]}
                    (efficiency = rate(n) / (n x rate(1)); needs a 1-worker point)

Needs matplotlib (Debian's python3-matplotlib); without it the report is
still written, without plots, and says so.
"""

import json
import math
import os
import re
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: E402

    PLOT_ERROR = None
except ImportError as e:  # the report is still useful without plots
    plt = None
    PLOT_ERROR = f"matplotlib is not installed ({e}); install python3-matplotlib"

# Targets of issue 8 ("Benchmarks").
TARGET_EST_PPS = 12e6  # established NAT and FullNAT, 1 M conns, per core
TARGET_CPS = 2e6  # new conns/s per core
TARGET_LINERATE = 0.85  # rvs / testpmd io forwarding, same memif pair
TARGET_SCALING = 0.90  # of linear, up to 14 workers
TARGET_VS_NFT = 1.0  # rvs req/s / nftables req/s
TARGET_VS_HAPROXY = 2.0  # rvs req/s / HAProxy req/s
TARGET_SCHED_NS = 30.0  # per pick at 64 dests (benches/sched.rs)
# Published figures of other systems, for scale (their hardware, their I/O).
REF_DPVS_PPS = 2.9e6
REF_DPVS_CPS = 200e3
REF_KATRAN_PPS = 9.9e6

METHOD_ORDER = ["nat", "fullnat", "dr", "tun"]
SCHED_ORDER = ["rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "lblc", "lblcr",
               "dh", "sh", "mh", "twos"]
CONTENDER_ORDER = ["rvs", "nft", "haproxy", "nginx"]

# What the step names in steps.tsv produce.
STEP_OF = {
    "machine.json": "machine",
    "worker_rate.json": "worker_rate",
    "linerate.json": "linerate",
    "sidebyside.json": "sidebyside",
}

CONTROL_WHAT = {
    "snapshot_1000x10": "build a dataplane snapshot, 1000 services x 10 dests",
    "snapshot_10000x10": "build a dataplane snapshot, 10 000 services x 10 dests",
    "edit_dest_mh_plus_snapshot_1000x10":
        "edit one dest of an mh service (Maglev table rebuilt) and build the snapshot, 1000x10",
    "edit_dest_wlc_1000x10": "edit one dest of a wlc service, no snapshot, 1000x10",
    "edit_dest_until_all_workers_run_it_1000x10":
        "one edit until both stand-in workers run it (apply, snapshot, publish, ack), 1000x10",
    "load/load_10000x10_until_all_workers_run_it":
        "10 000 services x 10 dests from empty until both workers run them",
}


# ---------------------------------------------------------------- helpers


def fnum(x, digits=2):
    """A number for a table; '–' when unknown."""
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return "–"
    if abs(x) >= 1e4:
        return f"{x:,.0f}".replace(",", " ")
    return f"{x:.{digits}f}"


def fns(x):
    """Nanoseconds, with precision to match their size."""
    if x is None:
        return "–"
    return fnum(x, 2 if x < 10 else 1 if x < 1000 else 0)


def fsig(x, sig=3):
    """x with about `sig` significant digits, never in exponent form."""
    if x is None:
        return "–"
    if x == 0:
        return "0"
    decimals = max(0, sig - 1 - int(math.floor(math.log10(abs(x)))))
    return fnum(x, decimals) if abs(x) >= 1e4 else f"{x:.{decimals}f}"


def fratio(x):
    """A ratio: two decimals, or two significant digits when below 0.1."""
    if x is None:
        return "–"
    if abs(x) >= 100:
        return fnum(x, 0)
    return f"{x:.2f}" if abs(x) >= 0.1 or x == 0 else fsig(x, 2)


def div(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def met(ratio, need=1.0):
    """'yes, +12 %' or 'no, -30 %': how far the measured/target ratio is from need."""
    if ratio is None:
        return "–"
    by = pct((ratio / need - 1.0) * 100.0)
    return f"yes, {by}" if ratio >= need else f"**no, {by}**"


def pct(by):
    """A signed percentage: one decimal under 10 %, none above."""
    return f"{by:+.1f} %" if abs(by) < 10 else f"{by:+.0f} %"


def met_at_most(value, limit):
    """'yes, -40 %' or 'no, +8 %' for a figure that must stay at or under limit."""
    if value is None:
        return "–"
    by = pct((value / limit - 1.0) * 100.0)
    return f"yes, {by}" if value <= limit else f"**no, {by}**"


def table(headers, rows, align=None):
    align = align or ["l"] + ["r"] * (len(headers) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def order_key(order):
    def key(name):
        return (order.index(name), "") if name in order else (len(order), str(name))

    return key


def human_count(n):
    if n is None:
        return "–"
    for div_, suffix in ((1_000_000, " M"), (1_000, " K")):
        if n >= div_ and n % div_ == 0:
            return f"{n // div_}{suffix}"
    return str(n)


# ---------------------------------------------------------------- inputs


class Run:
    """One run's raw results, and why any part of it is missing."""

    def __init__(self, d):
        self.dir = d
        self.steps = {}
        self.info = {}
        self.read_tsv()
        self.machine, self.machine_why = self.load("machine.json")
        self.worker_rate, self.worker_rate_why = self.load("worker_rate.json")
        self.linerate, self.linerate_why = self.load("linerate.json")
        self.sidebyside, self.sidebyside_why = self.load("sidebyside.json")
        self.scaling, self.scaling_why = self.load(
            "scaling.json",
            missing="not measured: the 16-core device machine was not lent to this session",
        )
        self.crit, self.crit_errors = load_criterion(os.path.join(d, "criterion"))

    def read_tsv(self):
        for name, target, width in (("steps.tsv", self.steps, 4), ("run.tsv", self.info, 2)):
            try:
                with open(os.path.join(self.dir, name), encoding="utf-8") as f:
                    for line in f:
                        parts = line.rstrip("\n").split("\t")
                        if len(parts) >= 2 and parts[0]:
                            parts += [""] * (width - len(parts))
                            target[parts[0]] = parts[1:width] if width > 2 else parts[1]
            except OSError:
                pass

    def why_missing(self, step, what):
        """Why `what` (produced by `step`) is missing, from steps.tsv."""
        s = self.steps.get(step)
        if s is None:
            if self.steps:
                return f"not run: this run had no {step} step"
            return f"not run: no {what} in {self.dir}"
        status, _secs, detail = s
        if status == "skipped":
            return f"not run: skipped ({detail})"
        if status == "failed":
            return f"not run: the {step} step failed ({detail})"
        return f"not run: the {step} step finished but left no {what}"

    def load(self, name, missing=None):
        path = os.path.join(self.dir, name)
        if not os.path.exists(path):
            if missing:
                return None, missing
            return None, self.why_missing(STEP_OF.get(name, name), name)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            return None, f"not run: {name} cannot be read ({e})"
        if not isinstance(data, dict):
            return None, f"not run: {name} is not a JSON object"
        return data, None

    def crit_why(self, suite):
        step = f"criterion: {suite}"
        if step in self.steps:
            return self.why_missing(step, "criterion results")
        return f"not run: no criterion results for {suite} in {self.dir}"


def load_criterion(root):
    """full_id -> {ns, lo, hi, elements, per_ns, rate} from criterion's
    new/benchmark.json and new/estimates.json files."""
    out, errors = {}, []
    if not os.path.isdir(root):
        return out, errors
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
            continue
        try:
            with open(os.path.join(dirpath, "benchmark.json"), encoding="utf-8") as f:
                bench = json.load(f)
            with open(os.path.join(dirpath, "estimates.json"), encoding="utf-8") as f:
                est = json.load(f)
            # Criterion reports the slope for linear sampling and the mean for
            # flat sampling (long iterations); so does this report.
            e = est.get("slope") or est["mean"]
            ns = float(e["point_estimate"])
            ci = e.get("confidence_interval", {})
            elements = None
            tp = bench.get("throughput")
            if isinstance(tp, dict) and "Elements" in tp:
                elements = int(tp["Elements"])
            elif isinstance(tp, dict) and "Bytes" in tp:
                elements = None
            per = ns / elements if elements else ns
            out[bench["full_id"]] = {
                "ns": ns,
                "lo": ci.get("lower_bound"),
                "hi": ci.get("upper_bound"),
                "elements": elements,
                "per_ns": per,
                "rate": 1e9 / per if per > 0 else None,
                "estimate": "slope" if est.get("slope") else "mean",
            }
        except (OSError, ValueError, KeyError, TypeError) as e:
            errors.append(f"{dirpath}: {e}")
    return out, errors


# ---------------------------------------------------------------- plots


class Plots:
    def __init__(self, img_dir, md_dir):
        self.dir = img_dir
        self.md_dir = md_dir
        self.made = []
        self.failed = []

    def save(self, fig, name, alt):
        """Writes fig as name.png; returns the markdown image line."""
        path = os.path.join(self.dir, name + ".png")
        try:
            os.makedirs(self.dir, exist_ok=True)
            fig.tight_layout()
            fig.savefig(path, dpi=110)
        except (OSError, ValueError) as e:
            self.failed.append(f"{name}.png: {e}")
            return f"(plot {name}.png could not be written: {e})"
        finally:
            plt.close(fig)
        self.made.append(path)
        rel = os.path.relpath(path, self.md_dir)
        return f"![{alt}]({rel})"


def plot_or_note(plots, fn, *args):
    if plt is None:
        return f"(no plot: {PLOT_ERROR})"
    try:
        return fn(plots, *args)
    except Exception as e:  # a broken plot must not lose the tables
        plots.failed.append(f"{fn.__name__}: {e}")
        return f"(plot failed: {type(e).__name__}: {e})"


def bar_labels(ax, bars, fmt="{:.1f}"):
    for b in bars:
        h = b.get_height()
        if h and not math.isnan(h):
            ax.annotate(fmt.format(h), (b.get_x() + b.get_width() / 2, h),
                        ha="center", va="bottom", fontsize=7)


def plot_pipeline(plots, rows):
    """rows: [(method, tier_label, burst_mpps, single_mpps)]"""
    methods = sorted({r[0] for r in rows}, key=order_key(METHOD_ORDER))
    tiers = []
    for r in rows:
        if r[1] not in tiers:
            tiers.append(r[1])
    series = []
    for t in tiers:
        series.append((f"burst of 32, {t}", {r[0]: r[2] for r in rows if r[1] == t}))
    for t in tiers:
        series.append((f"single frame, {t}", {r[0]: r[3] for r in rows if r[1] == t}))
    series = [s for s in series if any(v is not None for v in s[1].values())]
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.8 / max(1, len(series))
    for i, (label, vals) in enumerate(series):
        xs = [m + (i - (len(series) - 1) / 2) * width for m in range(len(methods))]
        ys = [vals.get(m) or 0 for m in methods]
        bar_labels(ax, ax.bar(xs, ys, width, label=label))
    ax.axhline(TARGET_EST_PPS / 1e6, color="red", linestyle="--", linewidth=1,
               label=f"target {TARGET_EST_PPS / 1e6:.0f} Mpps")
    ax.set_xticks(range(len(methods)), methods)
    top = max([v or 0 for _, vals in series for v in vals.values()] + [TARGET_EST_PPS / 1e6])
    ax.set_ylim(0, top * 1.35)
    ax.set_ylabel("Mpps, one core")
    ax.set_title("Worker pipeline, established flows (no I/O)")
    ax.legend(fontsize=7, ncol=3, loc="upper left")
    return plots.save(fig, "pipeline", "Worker pipeline Mpps per method and table size")


def plot_sched(plots, names, series, size):
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.3 * len(names) + 1)))
    height = 0.8 / max(1, len(series))
    for i, (label, vals) in enumerate(series):
        ys = [k + (i - (len(series) - 1) / 2) * height for k in range(len(names))]
        ax.barh(ys, [vals.get(n) or 0 for n in names], height, label=label)
    ax.axvline(TARGET_SCHED_NS, color="red", linestyle="--", linewidth=1,
               label=f"target {TARGET_SCHED_NS:.0f} ns")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel(f"ns per pick, {size} dests")
    ax.set_title("Scheduler pick cost")
    ax.legend(fontsize=7)
    return plots.save(fig, "sched", f"Scheduler pick cost at {size} dests")


def plot_linerate(plots, runs, ceiling):
    frames = sorted({r["frame"] for r in runs} | {c["frame"] for c in ceiling})
    fig, axes = plt.subplots(1, len(frames), figsize=(5.2 * len(frames), 4.2), squeeze=False)
    colors = {}
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    protos = sorted({r.get("proto") for r in runs})
    styles = ["-o", "-s", "-^", "-v"]
    for ax, frame in zip(axes[0], frames):
        for c_proto in sorted({c.get("proto") for c in ceiling if c["frame"] == frame}):
            pts = sorted((c["flows"], c["rx_pps"] / 1e6) for c in ceiling
                         if c["frame"] == frame and c.get("proto") == c_proto
                         and c.get("rx_pps") is not None)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "--", color="black",
                        label=f"testpmd io (ceiling){'' if len(protos) < 2 else ', ' + str(c_proto)}")
        groups = {}
        for r in runs:
            if r["frame"] == frame and r.get("rx_pps") is not None:
                groups.setdefault((r["method"], r.get("proto")), []).append(
                    (r["flows"], r["rx_pps"] / 1e6))
        for (method, proto), pts in sorted(groups.items(),
                                           key=lambda kv: (order_key(METHOD_ORDER)(kv[0][0]),
                                                           str(kv[0][1]))):
            pts.sort()
            color = colors.setdefault(method, cycle[len(colors) % len(cycle)])
            style = styles[protos.index(proto) % len(styles)] if proto in protos else "-o"
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=color,
                    label=f"rvs {method}" + (f" {proto}" if len(protos) > 1 else ""))
        ax.set_xscale("log")
        ax.set_xlabel("flows")
        ax.set_ylabel("forwarded Mpps")
        ax.set_ylim(bottom=0)
        ax.set_title(f"{frame}-byte frames")
        ax.legend(fontsize=7)
    fig.suptitle("Throughput against flows (one worker, net_memif)")
    return plots.save(fig, "linerate", "Forwarded Mpps against flows per method, with the ceiling")


def plot_latency(plots, contenders):
    modes = [("keepalive", "keep-alive"), ("short", "short connections")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    pcts = ["p50_ms", "p90_ms", "p99_ms"]
    for ax, (key, title) in zip(axes, modes):
        cs = [c for c in contenders if isinstance(c.get(key), dict)]
        width = 0.8 / len(pcts)
        for i, p in enumerate(pcts):
            xs = [k + (i - 1) * width for k in range(len(cs))]
            ys = [c[key].get(p) or 0 for c in cs]
            bar_labels(ax, ax.bar(xs, ys, width, label=p.replace("_ms", "")), "{:.2f}")
        ax.set_xticks(range(len(cs)), [c["name"] for c in cs])
        ax.set_ylabel("latency, ms")
        ax.set_title(title)
        ax.legend(fontsize=7)
    fig.suptitle("Latency percentiles (wrk)")
    return plots.save(fig, "latency", "Latency percentiles per contender")


def plot_rates(plots, contenders):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (key, field, label) in zip(axes, [("keepalive", "rps", "requests/s, keep-alive"),
                                               ("short", "cps", "connections/s, short")]):
        cs = [c for c in contenders if isinstance(c.get(key), dict)]
        ys = [(c[key].get(field) or 0) / 1e3 for c in cs]
        colors = ["tab:green" if c["name"] == "rvs" else "tab:gray" for c in cs]
        bar_labels(ax, ax.bar([c["name"] for c in cs], ys, color=colors))
        ax.set_ylabel("thousands per second")
        ax.set_title(label)
    fig.suptitle("Side by side, same cores")
    return plots.save(fig, "sidebyside", "Requests/s and connections/s per contender")


def plot_scaling(plots, series):
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, pts in series:
        ax.plot([p[0] for p in pts], [p[2] * 100 for p in pts], "-o", label=name)
    ax.axhline(TARGET_SCALING * 100, color="red", linestyle="--", linewidth=1,
               label=f"target {TARGET_SCALING * 100:.0f} %")
    ax.set_xlabel("workers")
    ax.set_ylabel("% of linear")
    ax.set_ylim(0, 110)
    ax.set_title("Scaling efficiency")
    ax.legend(fontsize=7)
    return plots.save(fig, "scaling", "Scaling efficiency against workers")


# ---------------------------------------------------------------- sections


class Report:
    def __init__(self, run, plots):
        self.run = run
        self.plots = plots
        self.targets = []  # (target, measured, ratio text, met text)
        self.refs = []
        self.parts = []

    def add(self, *blocks):
        self.parts.extend(b for b in blocks if b is not None)

    def target(self, what, measured, ratio, need=1.0, why=None):
        if why:
            self.targets.append((what, why, "–", "–"))
        else:
            self.targets.append((what, measured, fratio(ratio), met(ratio, need)))

    # -- machine

    def machine(self):
        m = self.run.machine
        self.add("## Machine")
        if m is None:
            self.add(self.run.machine_why)
            return
        c, mem, o = m.get("cpu", {}), m.get("memory", {}), m.get("os", {})
        g = m.get("git", {}) or {}
        huge = mem.get("hugepages_total")
        huge_txt = "–" if huge is None else (
            f"{huge} x {mem.get('hugepage_size_kib')} KiB ({mem.get('hugepages_free')} free)"
            if huge else "none (EAL runs with --no-huge)")
        virt = ", ".join(x for x in (o.get("vm"), o.get("container")) if x) or "none detected"
        rows = [
            ("CPU", f"{c.get('model') or '–'} ({c.get('vendor') or '–'})"),
            ("cores / threads", f"{c.get('cores') or '–'} / {c.get('threads') or '–'}"
             f" ({c.get('threads_per_core') or '–'} per core, "
             f"{c.get('sockets') or '–'} socket(s), {c.get('numa_nodes') or '–'} NUMA node(s))"),
            ("clock", f"{fnum(c.get('mhz_now'), 0)} MHz now"
             + (f", {fnum(c.get('mhz_max'), 0)} MHz max" if c.get("mhz_max") else "")),
            ("L3 cache", c.get("l3_cache") or "–"),
            ("memory", f"{fnum(mem.get('total_gib'), 1)} GiB "
             f"({fnum(mem.get('available_gib'), 1)} GiB available at start)"),
            ("hugepages", huge_txt),
            ("virtualisation", virt + (f", hypervisor {c['hypervisor']}" if c.get("hypervisor") else "")),
            ("OS", f"{o.get('pretty_name') or '–'} (debian_version {o.get('debian_version') or '–'})"),
            ("kernel", f"{o.get('kernel') or '–'} {o.get('arch') or ''}".strip()),
            ("DPDK", m.get("dpdk") or "– (pkg-config found no libdpdk)"),
            ("Rust", m.get("rustc") or "–"),
            ("load average at start", " ".join(fnum(x) for x in m.get("loadavg") or []) or "–"),
            ("date", m.get("date") or "–"),
            ("commit", (f"`{g.get('short')}` {g.get('subject') or ''}"
                        + (" (with uncommitted changes)" if g.get("dirty") else ""))
             if g.get("commit") else "–"),
        ]
        self.add(table(["", ""], rows, ["l", "l"]))

    # -- pipeline

    def pipeline(self):
        crit = self.run.crit
        self.add("## Worker pipeline (criterion: `benches/pipeline.rs`)",
                 "The sans-IO worker on one core: a frame goes in, the rewritten frame comes "
                 "out, no NIC. Established flows are ACKs of conns already in the table, "
                 "drawn over the whole table so lookups miss the cache as in production; "
                 "bursts of 32 go through `Worker::process_burst` (what the DPDK shell does), "
                 "single frames through `Worker::process`. Copying each frame into its "
                 "buffer is included.")
        est = {}
        pat = re.compile(r"^(established|established_single)/([^/]+)/(\d+)$")
        for fid, v in crit.items():
            mt = pat.match(fid)
            if mt:
                est.setdefault(mt.group(1), {}).setdefault(mt.group(2), {})[int(mt.group(3))] = v
        new = {fid.split("/", 1)[1]: v for fid, v in crit.items() if fid.startswith("new_conn/")}
        if not est and not new:
            why = self.run.crit_why("pipeline")
            self.add(why)
            for what in ("Established NAT, 1 M conns, one core", "Established FullNAT, 1 M conns, one core",
                         "New conns/s, one core"):
                self.target(what, None, None, why=why)
            return

        burst = est.get("established", {})
        single = est.get("established_single", {})
        methods = sorted(set(burst) | set(single), key=order_key(METHOD_ORDER))

        def tiers(m):
            return sorted(set(burst.get(m, {})) | set(single.get(m, {})))

        nat_sizes = tiers("nat")

        def size_class(n):
            """NAT's table size that a table of n conns stands in for: the
            smallest at or above n (FullNAT's 200 K cap stands in for 1 M)."""
            return next((s for s in nat_sizes if s >= n), None)

        rows, plot_rows = [], []
        capped = []
        for m in methods:
            for n in tiers(m):
                b, s = burst.get(m, {}).get(n), single.get(m, {}).get(n)
                cls = size_class(n)
                nat = burst.get("nat", {}).get(cls) if cls else None
                b_pps = b["rate"] if b else None
                s_pps = s["rate"] if s else None
                label = human_count(n)
                if cls is not None and cls != n:
                    label += " ¹"
                    capped.append(f"{m} {human_count(n)} (for {human_count(cls)})")
                rows.append((m, label, fns(b and b["per_ns"]), fnum(b_pps and b_pps / 1e6),
                             fratio(div(b_pps, TARGET_EST_PPS)),
                             fratio(div(b_pps, nat and nat["rate"])),
                             fns(s and s["per_ns"]), fnum(s_pps and s_pps / 1e6),
                             fratio(div(b_pps, s_pps))))
                plot_rows.append((m, f"{human_count(cls or n)} conns", b_pps and b_pps / 1e6,
                                  s_pps and s_pps / 1e6))
        self.add("### Established flows",
                 table(["method", "conns", "ns/packet (burst)", "Mpps (burst)",
                        f"÷ {TARGET_EST_PPS / 1e6:.0f} Mpps target", "÷ NAT, same table size",
                        "ns/packet (single)", "Mpps (single)", "burst ÷ single"], rows))
        if capped:
            self.add("¹ The bench caps this method's table below the size asked for (FullNAT: "
                     "local addresses x 64 Ki ports x real servers); the capped table stands in "
                     "for NAT's next size up, which the ÷ NAT column compares it with: "
                     + ", ".join(capped) + ".")
        self.add(plot_or_note(self.plots, plot_pipeline, plot_rows))

        # Targets: NAT at 1 M, FullNAT at its largest table up to 1 M.
        for m, label in (("nat", "NAT"), ("fullnat", "FullNAT")):
            sizes = [n for n in burst.get(m, {}) if n <= 1_000_000]
            what = f"Established {label}, 1 M conns, one core (burst)"
            if not sizes:
                self.target(what, None, None, why="not run: no established/" + m + " results")
                continue
            n = max(sizes)
            v = burst[m][n]
            if n != 1_000_000:
                what = f"Established {label}, {human_count(n)} conns (the bench's cap), one core (burst)"
            self.target(what, f"{fnum(v['rate'] / 1e6)} Mpps (target ≥ {TARGET_EST_PPS / 1e6:.0f})",
                        div(v["rate"], TARGET_EST_PPS))
        nat1m = burst.get("nat", {}).get(1_000_000)
        if nat1m:
            self.refs.append(("dpvs, established, per worker", f"{REF_DPVS_PPS / 1e6:.1f} Mpps",
                              "rvs pipeline NAT 1 M (no I/O)", f"{fnum(nat1m['rate'] / 1e6)} Mpps",
                              fratio(div(nat1m["rate"], REF_DPVS_PPS))))
            self.refs.append(("Katran, BPF-only upper bound, per core",
                              f"{REF_KATRAN_PPS / 1e6:.1f} Mpps",
                              "rvs pipeline NAT 1 M (no I/O)", f"{fnum(nat1m['rate'] / 1e6)} Mpps",
                              fratio(div(nat1m["rate"], REF_KATRAN_PPS))))

        self.add("### New connections",
                 "A SYN of a new client: schedule, insert the conn, rewrite; tables of up to "
                 "200 K conns, rebuilt outside the timing.")
        if not new:
            self.add(self.run.crit_why("pipeline"))
            self.target("New conns/s, one core", None, None, why="not run: no new_conn results")
            return
        nat = new.get("nat")
        rows = []
        for m in sorted(new, key=order_key(METHOD_ORDER)):
            v = new[m]
            rows.append((m, fns(v["per_ns"]), fnum(v["rate"] / 1e6),
                         fratio(div(v["rate"], TARGET_CPS)),
                         fratio(div(v["rate"], nat and nat["rate"]))))
            self.target(f"New conns/s, {m}, one core",
                        f"{fnum(v['rate'] / 1e6)} M/s (target ≥ {TARGET_CPS / 1e6:.0f})",
                        div(v["rate"], TARGET_CPS))
        self.add(table(["method", "ns/conn", "M conns/s", f"÷ {TARGET_CPS / 1e6:.0f} M/s target",
                        "÷ NAT"], rows))
        if nat:
            self.refs.append(("dpvs, new conns/s per worker", f"{REF_DPVS_CPS / 1e3:.0f} K/s",
                              "rvs pipeline new_conn NAT (no I/O)",
                              f"{fnum(nat['rate'] / 1e3, 0)} K/s",
                              fratio(div(nat["rate"], REF_DPVS_CPS))))

    # -- conn table

    def conn(self):
        crit = self.run.crit
        self.add("## Connection table (criterion: `benches/conn.rs`)",
                 "Lookups that hit, one key at a time and in bursts of 32 "
                 "(`ConnTable::lookup_burst`), keys spread over the whole table; and the "
                 "steady state of a busy director: insert one conn and remove the oldest, "
                 "table at 500 K.")
        pat = re.compile(r"^conn_lookup_hit/(single|burst32)/(\w+)$")
        look = {}
        for fid, v in crit.items():
            mt = pat.match(fid)
            if mt:
                look.setdefault(mt.group(2), {})[mt.group(1)] = v
        setup = {fid: v for fid, v in crit.items() if fid.startswith("conn_setup/")}
        if not look and not setup:
            self.add(self.run.crit_why("conn"))
            return
        size_key = {"1K": 1e3, "1M": 1e6, "10M": 1e7}
        rows = []
        for size in sorted(look, key=lambda s: size_key.get(s, float("inf"))):
            s, b = look[size].get("single"), look[size].get("burst32")
            rows.append((size, fns(s and s["per_ns"]), fnum(s and s["rate"] / 1e6),
                         fns(b and b["per_ns"]), fnum(b and b["rate"] / 1e6),
                         fratio(div(b and b["rate"], s and s["rate"]))))
        if rows:
            self.add(table(["conns", "ns/lookup (single)", "M lookups/s (single)",
                            "ns/lookup (burst 32)", "M lookups/s (burst 32)", "burst ÷ single"],
                           rows))
        new_nat = crit.get("new_conn/nat")
        look1m = look.get("1M", {}).get("single")
        rows = []
        for fid, v in sorted(setup.items()):
            rows.append((fid.split("/", 1)[1], fns(v["per_ns"]), fnum(v["rate"] / 1e6),
                         fratio(div(v["per_ns"], new_nat and new_nat["per_ns"])),
                         fratio(div(v["per_ns"], look1m and look1m["per_ns"]))))
        if rows:
            self.add(table(["insert + remove", "ns/conn", "M/s",
                            "share of a whole new conn (÷ new_conn/nat)", "÷ one lookup at 1M"],
                           rows))

    # -- schedulers

    def sched(self):
        crit = self.run.crit
        self.add("## Schedulers (criterion: `benches/sched.rs`)",
                 "Cost of one `Scheduler::pick` with dests of mixed weights and loads. "
                 "\"view\" is a plain slice of dest views; \"counted W\" reads the conn "
                 "counters shared by W workers, as a worker does in rvsd. Ratios to rr are "
                 f"at the same dest count and dest set; the target is ≤ {TARGET_SCHED_NS:.0f} ns "
                 "per pick at 64 dests.")
        pat = re.compile(r"^sched/([^/]+)/([^/]+)/(\d+)$")
        data = {}
        for fid, v in crit.items():
            mt = pat.match(fid)
            if mt:
                data.setdefault(mt.group(1), {}).setdefault(mt.group(2), {})[int(mt.group(3))] = v
        if not data:
            self.add(self.run.crit_why("sched"))
            return
        names = sorted(data, key=order_key(SCHED_ORDER))
        sizes = sorted({n for s in data.values() for d in s.values() for n in d})
        sets = sorted({k for s in data.values() for k in s},
                      key=lambda k: (k != "view", k))
        mid = 64 if 64 in sizes else sizes[len(sizes) // 2]

        def ns(name, dset, n):
            v = data.get(name, {}).get(dset, {}).get(n)
            return v and v["per_ns"]

        rr = "rr" if "rr" in data else None
        rows = []
        for name in names:
            row = [name] + [fns(ns(name, "view", n)) for n in sizes]
            row += [fratio(div(ns(name, "view", n), rr and ns(rr, "view", n))) for n in sizes]
            row.append(met_at_most(ns(name, "view", mid), TARGET_SCHED_NS))
            rows.append(row)
        self.add("### Plain dest views, ns per pick",
                 table(["scheduler"] + [f"{n} dests" for n in sizes]
                       + [f"÷ rr at {n}" for n in sizes] + [f"≤ {TARGET_SCHED_NS:.0f} ns at {mid}?"],
                       rows, ["l"] + ["r"] * (2 * len(sizes)) + ["l"]))
        counted = [k for k in sets if k.startswith("counted")]
        if counted:
            rows = []
            big = sizes[-1]
            for name in names:
                row = [name]
                for k in counted:
                    row += [fns(ns(name, k, mid)), fratio(div(ns(name, k, mid), ns(name, "view", mid)))]
                last = counted[-1]
                row.append(fns(ns(name, last, big)))
                row.append(fratio(div(ns(name, last, big), rr and ns(rr, last, big))))
                row.append(met_at_most(ns(name, last, mid), TARGET_SCHED_NS))
                rows.append(row)
            hdr = ["scheduler"]
            for k in counted:
                hdr += [f"{k} at {mid}", "÷ view"]
            hdr += [f"{counted[-1]} at {big}", "÷ rr", f"≤ {TARGET_SCHED_NS:.0f} ns at {mid}?"]
            self.add("### Shared per-worker counters, ns per pick",
                     table(hdr, rows, ["l"] + ["r"] * (len(hdr) - 2) + ["l"]))
        # What rvsd's workers run: the pick tree where the scheduler has
        # one (its cost moved onto the conn-count updates, shown beside it),
        # the shared counters otherwise.
        in_rvsd = {}
        if "tree" in sets:
            rows = []
            for name in names:
                kind = "tree" if ns(name, "tree", mid) is not None else (counted[-1] if counted else "view")
                in_rvsd[name] = kind
                row = [name, "pick tree" if kind == "tree" else kind]
                row += [fns(ns(name, kind, n)) for n in sizes]
                row.append(fns(ns(name, "tree_update", mid)) if kind == "tree" else "–")
                row.append(met_at_most(ns(name, kind, mid), TARGET_SCHED_NS))
                rows.append(row)
            self.add("### What rvsd's workers run, ns per pick",
                     "lc, wlc, sed, nq, fo, ovf and twos pick from each worker's tournament tree "
                     "(`dataplane/src/sched/tree.rs`): the root is the kernel walk's answer, so "
                     "the pick costs no walk; each bind and unbind of a conn replays one "
                     "leaf-to-root path instead (\"bind + unbind\": one of each, the dest "
                     "rotating). The other schedulers read the shared counters as above.",
                     table(["scheduler", "reads"] + [f"{n} dests" for n in sizes]
                           + [f"bind + unbind at {mid}", f"≤ {TARGET_SCHED_NS:.0f} ns at {mid}?"],
                           rows, ["l", "l"] + ["r"] * (len(sizes) + 1) + ["l"]))
        series = [(f"{k}, {mid} dests", {n: ns(n, k, mid) for n in names})
                  for k in (["view"] + counted[-1:]) if k in sets]
        if in_rvsd:
            series.append((f"in rvsd, {mid} dests", {n: ns(n, in_rvsd[n], mid) for n in names}))
        self.add(plot_or_note(self.plots, plot_sched, names, series, mid))

    # -- control

    def control(self):
        crit = self.run.crit
        self.add("## Control core (criterion: `benches/control.rs`)",
                 "Snapshot builds, admin changes, and changes until every worker runs them. "
                 "Ratios are to a snapshot build of 1000 services x 10 dests in the same run.")
        ids = [fid for fid in crit if fid in CONTROL_WHAT]
        if not ids:
            self.add(self.run.crit_why("control"))
            return
        base = crit.get("snapshot_1000x10")
        order = list(CONTROL_WHAT)
        rows = []
        for fid in sorted(ids, key=order.index):
            v = crit[fid]
            rows.append((f"`{fid}`", CONTROL_WHAT[fid], fsig(v["ns"] / 1e6),
                         fratio(div(v["ns"], base and base["ns"]))))
        self.add(table(["benchmark", "what", "ms", "÷ snapshot 1000x10"], rows,
                       ["l", "l", "r", "r"]))

    # -- worker over DPDK

    def worker_rate(self):
        self.add("## One worker over DPDK (`benches/worker_rate.rs`)",
                 "rvsd's own worker loop on one lcore over a `net_ring` port, answering "
                 "64-byte ICMP echo requests from a generator on the other lcore, next to an "
                 "io-forward loop on the same port (the ceiling of this in-process harness).")
        d = self.run.worker_rate
        if d is None:
            self.add(self.run.worker_rate_why)
            return
        rows = []
        for v in d.get("variants", []):
            rvs, ceil = v.get("rvs_pps"), v.get("ceiling_pps")
            ratio = v.get("ratio", div(rvs, ceil))
            rows.append((v.get("name", "–"), fnum(rvs and rvs / 1e6), fnum(ceil and ceil / 1e6),
                         fratio(ratio), fnum(v.get("lost"), 0)))
        self.add(table(["variant", "rvs Mpps", "io-forward Mpps", "rvs ÷ io-forward",
                        "lost (incl. in flight at stop)"], rows),
                 f"{d.get('frame', '–')}-byte frames, {d.get('secs', '–')} s per measurement.")

    # -- line rate

    def linerate(self):
        self.add("## Line rate (`benches/linerate`)",
                 "rvs-pktgen (our DPDK generator and sink) feeds rvsd over a `net_memif` "
                 "pair, per method, frame size and flow count; dpdk-testpmd's io forwarding "
                 "over the same pair is this machine's I/O ceiling. Target: rvs ≥ "
                 f"{TARGET_LINERATE} x the ceiling.")
        d = self.run.linerate
        if d is None:
            self.add(self.run.linerate_why)
            self.target(f"Line rate, rvs ÷ testpmd io (≥ {TARGET_LINERATE})", None, None,
                        why=self.run.linerate_why)
            return
        ceiling = [c for c in d.get("ceiling", []) if isinstance(c, dict) and "frame" in c]
        runs = [r for r in d.get("runs", []) if isinstance(r, dict) and "frame" in r]
        self.add(f"{d.get('workers', '–')} worker(s), {d.get('secs', '–')} s per run.")
        if ceiling:
            rows = [(c.get("proto", "–"), c["frame"], human_count(c.get("flows")),
                     fnum(c.get("tx_pps") and c["tx_pps"] / 1e6),
                     fnum(c.get("rx_pps") and c["rx_pps"] / 1e6),
                     fnum(c.get("loss") is not None and c["loss"] * 100, 3),
                     fratio(div(c.get("rx_pps"), c.get("tx_pps"))))
                    for c in sorted(ceiling, key=lambda c: (c["frame"], c.get("flows", 0)))]
            self.add("### Ceiling: dpdk-testpmd io forwarding",
                     table(["proto", "frame B", "flows", "tx Mpps", "rx Mpps", "loss %",
                            "rx ÷ tx"], rows, ["l"] + ["r"] * 6))
        else:
            self.add("No ceiling was measured (dpdk-testpmd missing or failed): ratios are "
                     "not available.")
        ratios = []
        for r in runs:
            if r.get("ratio") is None:
                r["ratio"] = div(r.get("rx_pps"), r.get("ceiling_rx_pps"))
            if r["ratio"] is not None:
                ratios.append((r["ratio"], r))
        if runs:
            flows = sorted({r.get("flows", 0) for r in runs})
            keys = sorted({(r["method"], str(r.get("proto", "–")), r["frame"]) for r in runs},
                          key=lambda k: (order_key(METHOD_ORDER)(k[0]), k[1], k[2]))
            rows = []
            for method, proto, frame in keys:
                row = [method, proto, frame]
                for fl in flows:
                    r = next((r for r in runs if r["method"] == method and r["frame"] == frame
                              and str(r.get("proto", "–")) == proto and r.get("flows", 0) == fl),
                             None)
                    if r is None:
                        row += ["–"] * 4
                        continue
                    row += [fnum(r.get("rx_pps") and r["rx_pps"] / 1e6),
                            fnum(r.get("loss") is not None and r["loss"] * 100, 3),
                            fratio(r["ratio"]),
                            met(r["ratio"], TARGET_LINERATE) if r["ratio"] is not None else "–"]
                rows.append(row)
            hdr = ["method", "proto", "frame B"]
            for fl in flows:
                hdr += [f"{human_count(fl)} flows: rx Mpps", "loss %", "÷ ceiling",
                        f"≥ {TARGET_LINERATE}?"]
            self.add("### rvs",
                     table(hdr, rows, ["l", "l", "r"] + ["r", "r", "r", "l"] * len(flows)))
            self.add(plot_or_note(self.plots, plot_linerate, runs, ceiling))
            full = []
            for r in sorted(runs, key=lambda r: (order_key(METHOD_ORDER)(r["method"]),
                                                 str(r.get("proto")), r["frame"],
                                                 r.get("flows", 0))):
                full.append((r["method"], r.get("proto", "–"), r["frame"],
                             human_count(r.get("flows")),
                             fnum(r.get("tx_pps") and r["tx_pps"] / 1e6),
                             fnum(r.get("rx_pps") and r["rx_pps"] / 1e6),
                             fnum(r.get("loss") is not None and r["loss"] * 100, 3),
                             fnum(r.get("ceiling_rx_pps") and r["ceiling_rx_pps"] / 1e6),
                             fratio(r["ratio"])))
            self.add("<details><summary>Every run, with the generator's tx rate</summary>\n\n"
                     + table(["method", "proto", "frame B", "flows", "tx Mpps", "rx Mpps",
                              "loss %", "ceiling rx Mpps", "rvs ÷ ceiling"], full,
                             ["l", "l"] + ["r"] * 7)
                     + "\n\n</details>")
        else:
            self.add("No rvs runs in linerate.json.")
        if ratios:
            worst, wr = min(ratios, key=lambda x: x[0])
            n_met = sum(1 for x in ratios if x[0] >= TARGET_LINERATE)
            self.target(f"Line rate, rvs ÷ testpmd io (≥ {TARGET_LINERATE})",
                        f"{n_met} of {len(ratios)} runs; lowest {worst:.2f} "
                        f"({wr['method']} {wr.get('proto', '')} {wr['frame']} B "
                        f"{human_count(wr.get('flows'))} flows)",
                        worst, TARGET_LINERATE)
        else:
            self.target(f"Line rate, rvs ÷ testpmd io (≥ {TARGET_LINERATE})", None, None,
                        why="no run with a ceiling to compare")
        cps = [c for c in d.get("cps", []) if isinstance(c, dict)]
        if cps:
            rows = []
            for c in cps:
                ratio = c.get("ratio")
                if ratio is None:
                    ratio = div(c.get("cps"), c.get("ceiling_rx_pps"))
                rows.append((c.get("method", "–"), c.get("proto", "tcp"), human_count(c.get("conns")),
                             fnum(c.get("cps") and c["cps"] / 1e3, 0),
                             fnum(c.get("ceiling_rx_pps") and c["ceiling_rx_pps"] / 1e6),
                             fratio(ratio), fratio(div(c.get("cps"), TARGET_CPS))))
            self.add("### New connections through the harness",
                     "The SYN phase of the 1 M-flow TCP runs: each SYN is a new conn. The "
                     "ratio is new conns/s over the ceiling's packets/s for the same frames.",
                     table(["method", "proto", "conns", "K conns/s", "ceiling rx Mpps",
                            "cps ÷ ceiling pps", f"÷ {TARGET_CPS / 1e6:.0f} M/s target"], rows,
                           ["l", "l"] + ["r"] * 5))
        nat = [r for r in runs if r["method"] == "nat" and r.get("rx_pps")]
        if nat:
            r = min(nat, key=lambda r: (r["frame"], r.get("flows", 0)))
            self.refs.append(("dpvs, established, per worker", f"{REF_DPVS_PPS / 1e6:.1f} Mpps",
                              f"rvs through memif, NAT {r['frame']} B {human_count(r.get('flows'))} flows",
                              f"{fnum(r['rx_pps'] / 1e6)} Mpps", fratio(div(r["rx_pps"], REF_DPVS_PPS))))
        notes = [n for n in d.get("notes", []) if isinstance(n, str)]
        if notes:
            self.add("Notes from the harness:\n\n" + "\n".join(f"- {n}" for n in notes))

    # -- side by side

    def sidebyside(self):
        self.add("## Side by side in the namespace topology (`scripts/bench/sidebyside.sh`)",
                 "HTTP through each load balancer to the same real servers, in the end-to-end "
                 "namespace topology, one contender after the other with the same cores: wrk "
                 "with keep-alive (requests/s, latency) and with a new connection per request "
                 "(connections/s). Ratios are rvs over the contender.")
        d = self.run.sidebyside
        why = self.run.sidebyside_why
        if d is None:
            self.add(why)
            self.target("Side by side: rvs ÷ nftables DNAT, requests/s (≥ 1)", None, None, why=why)
            self.target("Side by side: rvs ÷ HAProxy, requests/s (≥ 2)", None, None, why=why)
            return
        cs = [c for c in d.get("contenders", []) if isinstance(c, dict) and c.get("name")]
        cs.sort(key=lambda c: order_key(CONTENDER_ORDER)(c["name"]))
        self.add(f"{d.get('secs', '–')} s per wrk run, {d.get('connections', '–')} connections"
                 + (f"; CPUs: {d['cpus']}" if d.get("cpus") else "") + ".")
        rvs = next((c for c in cs if c["name"] == "rvs" and c.get("ok")), None)

        def val(c, mode, field):
            m = c.get(mode) if c and c.get("ok") else None
            return m.get(field) if isinstance(m, dict) else None

        for mode, field, unit, title in (("keepalive", "rps", "req/s", "Keep-alive"),
                                         ("short", "cps", "conn/s", "Short connections")):
            rows = []
            for c in cs:
                if not c.get("ok"):
                    rows.append((c["name"], c.get("label") or "", f"failed: {c.get('error') or '?'}",
                                 "–", "–", "–", "–", "–", "–"))
                    continue
                r = val(c, mode, field)
                rows.append((c["name"], c.get("label") or "", fnum(r, 0),
                             fratio(div(val(rvs, mode, field), r)),
                             fnum(val(c, mode, "p50_ms"), 3), fnum(val(c, mode, "p90_ms"), 3),
                             fnum(val(c, mode, "p99_ms"), 3),
                             fratio(div(val(rvs, mode, "p99_ms"), val(c, mode, "p99_ms"))),
                             fnum(val(c, mode, "errors"), 0)))
            self.add(f"### {title}",
                     table(["contender", "what", unit, "rvs ÷ it", "p50 ms", "p90 ms", "p99 ms",
                            "rvs p99 ÷ its p99", "errors"], rows, ["l", "l"] + ["r"] * 7))
        ok = [c for c in cs if c.get("ok")]
        if ok:
            self.add(plot_or_note(self.plots, plot_rates, ok),
                     plot_or_note(self.plots, plot_latency, ok))
        for name, label, need in (("nft", "nftables DNAT", TARGET_VS_NFT),
                                  ("haproxy", "HAProxy", TARGET_VS_HAPROXY)):
            what = f"Side by side: rvs ÷ {label}, requests/s (≥ {need:g})"
            c = next((c for c in cs if c["name"] == name), None)
            if rvs is None:
                self.target(what, None, None, why="not run: the rvs contender failed or is missing")
            elif c is None or not c.get("ok"):
                self.target(what, None, None,
                            why=f"not run: the {name} contender "
                                + ("is missing" if c is None else f"failed ({c.get('error')})"))
            else:
                a, b = val(rvs, "keepalive", "rps"), val(c, "keepalive", "rps")
                self.target(what, f"{fnum(a, 0)} vs {fnum(b, 0)} req/s", div(a, b), need)
        notes = [n for n in d.get("notes", []) if isinstance(n, str)]
        if notes:
            self.add("Notes from the run:\n\n" + "\n".join(f"- {n}" for n in notes))

    # -- scaling

    def scaling(self):
        self.add("## Scaling",
                 "The worker pipeline and the line-rate harness from 1 to 14 workers on the "
                 f"16-core device machine; efficiency = rate(n) ÷ (n x rate(1)), target ≥ "
                 f"{TARGET_SCALING * 100:.0f} % up to 14 workers.")
        d = self.run.scaling
        what = f"Scaling, % of linear at 14 workers (≥ {TARGET_SCALING * 100:.0f} %)"
        if d is None:
            self.add(self.run.scaling_why)
            self.target(what, None, None, why=self.run.scaling_why)
            return
        series = []
        for s in d.get("series", []):
            pts = sorted((p["workers"], p["rate"]) for p in s.get("points", [])
                         if isinstance(p, dict) and p.get("workers") and p.get("rate") is not None)
            one = next((r for w, r in pts if w == 1), None)
            if not pts or not one:
                continue
            series.append((s.get("name", "?"), [(w, r, r / (w * one)) for w, r in pts],
                           s.get("unit", "")))
        if not series:
            self.add("scaling.json holds no series with a 1-worker point.")
            self.target(what, None, None, why="no usable series in scaling.json")
            return
        workers = sorted({p[0] for _, pts, _ in series for p in pts})
        rows = []
        for w in workers:
            row = [w]
            for _, pts, unit in series:
                p = next((p for p in pts if p[0] == w), None)
                row += [fnum(p and p[1] / 1e6), f"{p[2] * 100:.0f} %" if p else "–"]
            rows.append(row)
        hdr = ["workers"]
        for name, _, unit in series:
            hdr += [f"{name} (M{unit or '/s'})", "of linear"]
        self.add(table(hdr, rows))
        if d.get("notes"):
            self.add("\n".join(f"- {n}" for n in d["notes"] if isinstance(n, str)))
        self.add(plot_or_note(self.plots, plot_scaling, [(n, p) for n, p, _ in series]))
        worst = None
        for name, pts, _ in series:
            last = pts[-1]
            if worst is None or last[2] < worst[1][2]:
                worst = (name, last)
        name, (w, _r, eff) = worst
        self.target(what, f"{eff * 100:.0f} % at {w} workers ({name})", eff, TARGET_SCALING)

    # -- all criterion results

    def criterion_all(self):
        crit = self.run.crit
        if not crit and not self.run.crit_errors:
            return
        rows = []
        for fid in sorted(crit):
            v = crit[fid]
            rows.append((f"`{fid}`", fns(v["ns"]), fns(v["lo"]), fns(v["hi"]),
                         v["elements"] or "–", fns(v["per_ns"]), v["estimate"]))
        body = table(["benchmark", "ns per iteration", "95 % CI low", "95 % CI high",
                      "elements", "ns per element", "estimate"], rows)
        errs = ""
        if self.run.crit_errors:
            errs = "\n\nUnreadable results:\n\n" + "\n".join(f"- {e}" for e in self.run.crit_errors)
        self.add("## Every criterion result",
                 "<details><summary>All benchmarks of this run (criterion's slope estimate, or "
                 "its mean where it sampled flat)</summary>\n\n" + body + errs + "\n\n</details>")

    # -- assembly

    def render(self, notes_text):
        self.machine()
        body_start = len(self.parts)
        self.pipeline()
        self.conn()
        self.sched()
        self.control()
        self.worker_rate()
        self.linerate()
        self.sidebyside()
        self.scaling()
        if notes_text:
            self.add("## Notes", notes_text.strip())
        self.criterion_all()
        machine_parts = self.parts[:body_start]
        body = self.parts[body_start:]

        info = self.run.info
        mode = info.get("mode", "unknown")
        head = [
            "# Benchmarks",
            "Generated by one command, which installs what it needs, builds, runs every "
            "benchmark below and rewrites this file and the plots in `benchmarks/`:",
            "```sh\nsudo bash scripts/bench.sh            # about 40 min on 2 cores\n"
            "sudo bash scripts/bench.sh --quick    # about 10 min, shorter runs\n"
            "sudo bash scripts/bench.sh --skip linerate,sidebyside   # leave parts out\n```",
            "Do not edit this file by hand: explanations and profiles go in "
            "`benchmarks/notes.md`, which the report includes as its Notes section.",
            "**Ratios are what to compare: this machine is shared and noisy.** Other jobs run "
            "on the same cores, so an absolute figure can move by tens of percent from one run "
            "to the next, while a ratio of two figures measured in the same run moves far "
            "less. Every absolute figure below stands next to such a ratio.",
            "What each section measures:\n\n"
            "- **Targets**: the goals of issue 8 against this run's figures.\n"
            "- **Worker pipeline**: the sans-IO dataplane on one core, per method and table "
            "size, established packets and new conns (criterion).\n"
            "- **Connection table**, **Schedulers**, **Control core**: the parts: conn "
            "lookups and churn, the cost of one scheduler pick, snapshot builds and admin "
            "changes reaching the workers (criterion).\n"
            "- **One worker over DPDK**: rvsd's worker loop on a real DPDK port against an "
            "io-forward loop on the same port.\n"
            "- **Line rate**: our generator feeding rvsd over `net_memif`, per method, frame "
            "size and flow count, against dpdk-testpmd io forwarding on the same pair.\n"
            "- **Side by side**: rvs, nftables DNAT, HAProxy and nginx stream in the "
            "namespace topology under wrk.\n"
            "- **Scaling**: 1 to 14 workers on the 16-core device machine, when lent.",
        ]
        steps = self.run.steps
        run_lines = [f"This run: **{mode}** mode"
                     + (f", started {info['started']}" if info.get("started") else "")
                     + (f", `--skip {info['skip']}`" if info.get("skip") else "") + "."]
        if steps:
            rows = [(name, s[0] if s[0] != "failed" else "**failed**",
                     f"{int(s[1]) // 60}m{int(s[1]) % 60:02d}s" if s[1].isdigit() else "–",
                     s[2] or "")
                    for name, s in steps.items()]
            run_lines.append(table(["step", "result", "time", "detail"], rows,
                                   ["l", "l", "r", "l"]))
        if self.plots.failed:
            run_lines.append("Plots that failed: " + "; ".join(self.plots.failed))
        if PLOT_ERROR:
            run_lines.append(f"No plots: {PLOT_ERROR}.")

        targets = ["## Targets",
                   "Measured in this run against the targets of issue 8. \"met?\" says by how "
                   "much the figure is above or below its target."]
        if self.targets:
            targets.append(table(["target", "measured", "÷ target", "met?"],
                                 [t for t in self.targets], ["l", "l", "r", "l"]))
            if any(t[3].startswith("**no") for t in self.targets):
                targets.append("Where a target is missed, what the profile shows is in "
                               + ("[Notes](#notes)." if notes_text else
                                  "`benchmarks/notes.md`, which this run did not have: no "
                                  "profile is discussed here yet."))
        if self.refs:
            targets.append("For scale, published figures of other systems (their hardware and "
                           "NICs, not this machine: an order of magnitude, not a contest):")
            targets.append(table(["reference", "figure", "rvs, this run", "figure", "rvs ÷ reference"],
                                 self.refs, ["l", "r", "l", "r", "r"]))
        parts = head + run_lines + machine_parts + targets + body
        return "\n\n".join(parts).rstrip() + "\n"


def write_report(d, md_path, img_dir, notes_path=None):
    run = Run(d)
    md_dir = os.path.dirname(os.path.abspath(md_path))
    plots = Plots(img_dir, md_dir)
    notes = None
    if notes_path:
        try:
            with open(notes_path, encoding="utf-8") as f:
                notes = f.read()
        except OSError as e:
            notes = f"(notes file {notes_path} cannot be read: {e})"
    text = Report(run, plots).render(notes)
    # Plots of an earlier run that this one did not make would be misleading.
    if os.path.isdir(img_dir):
        for name in os.listdir(img_dir):
            p = os.path.join(img_dir, name)
            if name.endswith(".png") and p not in plots.made:
                os.remove(p)
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(text)
    return text, plots


# ---------------------------------------------------------------- selftest


def _selftest():
    """Renders a small result set and an empty one; checks what comes out."""
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)

    def crit_entry(root, full_id, ns, elements=None):
        d = os.path.join(root, "criterion", full_id.replace("/", "_"), "new")
        os.makedirs(d, exist_ok=True)
        parts = full_id.split("/")
        with open(os.path.join(d, "benchmark.json"), "w") as f:
            json.dump({"group_id": parts[0], "function_id": "/".join(parts[1:]) or None,
                       "full_id": full_id,
                       "throughput": {"Elements": elements} if elements else None}, f)
        with open(os.path.join(d, "estimates.json"), "w") as f:
            est = {"point_estimate": ns, "standard_error": ns / 50,
                   "confidence_interval": {"confidence_level": 0.95,
                                           "lower_bound": ns * 0.98, "upper_bound": ns * 1.02}}
            json.dump({"mean": est, "median": est, "slope": est}, f)

    with tempfile.TemporaryDirectory() as tmp:
        full = os.path.join(tmp, "full")
        os.makedirs(full)
        # 32 packets in 1600 ns: 50 ns/packet, 20 Mpps; 1 M NAT at 40 ns/packet... etc.
        crit_entry(full, "established/nat/1000", 1600, 32)
        crit_entry(full, "established/nat/1000000", 3200, 32)  # 10 Mpps
        crit_entry(full, "established/fullnat/200000", 2560, 32)  # 12.5 Mpps
        crit_entry(full, "established_single/nat/1000000", 200, 1)  # 5 Mpps
        crit_entry(full, "new_conn/nat", 400, 1)  # 2.5 M/s
        crit_entry(full, "conn_lookup_hit/single/1M", 4096 * 20, 4096)
        crit_entry(full, "conn_lookup_hit/burst32/1M", 4096 * 10, 4096)
        crit_entry(full, "sched/rr/view/64", 5.0)
        crit_entry(full, "sched/wlc/view/64", 40.0)
        crit_entry(full, "sched/wlc/counted4/64", 60.0)
        crit_entry(full, "sched/wlc/tree/64", 6.0)
        crit_entry(full, "sched/wlc/tree_update/64", 12.0)
        crit_entry(full, "snapshot_1000x10", 2e6)
        crit_entry(full, "edit_dest_wlc_1000x10", 1e4)
        with open(os.path.join(full, "worker_rate.json"), "w") as f:
            json.dump({"kind": "worker_rate", "frame": 64, "secs": 1, "variants": [
                {"name": "icmp_echo", "rvs_pps": 4e6, "ceiling_pps": 8e6, "ratio": 0.5,
                 "lost": 3}]}, f)
        with open(os.path.join(full, "linerate.json"), "w") as f:
            json.dump({"kind": "linerate", "workers": 1, "secs": 2,
                       "ceiling": [{"frame": 64, "flows": f_, "proto": "udp", "tx_pps": 10e6,
                                    "rx_pps": 10e6, "loss": 0.0} for f_ in (1000, 1000000)],
                       "runs": [{"method": "nat", "proto": "udp", "frame": 64, "flows": f_,
                                 "tx_pps": 9e6, "rx_pps": r, "loss": 0.001,
                                 "ceiling_rx_pps": 10e6, "ratio": r / 10e6}
                                for f_, r in ((1000, 9e6), (1000000, 7e6))],
                       "cps": [{"method": "nat", "conns": 1000000, "cps": 1.5e6,
                                "ceiling_rx_pps": 10e6, "ratio": 0.15}],
                       "notes": ["selftest note"]}, f)
        with open(os.path.join(full, "sidebyside.json"), "w") as f:
            def c(name, rps, ok=True):
                lat = {"p50_ms": 0.5, "p90_ms": 0.9, "p99_ms": 2.0, "errors": 0}
                return {"name": name, "label": name, "ok": ok, "error": None if ok else "boom",
                        "keepalive": dict(lat, rps=rps, requests=rps * 5) if ok else None,
                        "short": dict(lat, cps=rps / 4, requests=rps) if ok else None}
            json.dump({"kind": "sidebyside", "secs": 5, "connections": 32, "cpus": "1",
                       "notes": [], "contenders": [c("rvs", 60000), c("nft", 50000),
                                                   c("haproxy", 40000), c("nginx", 0, ok=False)]},
                      f)
        with open(os.path.join(full, "steps.tsv"), "w") as f:
            f.write("machine\tfailed\t1\texit status 1; log: x.log\n")
        md = os.path.join(tmp, "out", "BENCHMARKS.md")
        img = os.path.join(tmp, "out", "benchmarks")
        os.makedirs(os.path.dirname(md))
        text, plots = write_report(full, md, img)
        check("not run: the machine step failed (exit status 1; log: x.log)" in text,
              "a failed step is named with its reason")
        check("| nat | 1 M | 100.0 | 10.00 | 0.83 | 1.00 | 200.0 | 5.00 | 2.00 |" in text,
              "pipeline NAT 1 M row: 100 ns, 10 Mpps, 0.83 of target, burst 2x single")
        check("| fullnat | 200 K ¹ | 80.0 | 12.50 | 1.04 | 1.25 |" in text,
              "FullNAT's capped table compared with NAT's 1 M")
        check("Established NAT, 1 M conns, one core (burst) | 10.00 Mpps (target ≥ 12) | 0.83 | **no, -17 %**"
              in text, "missed target says by how much")
        check("New conns/s, nat, one core | 2.50 M/s (target ≥ 2) | 1.25 | yes, +25 %" in text,
              "met target says by how much")
        check("| wlc | 40.0 | 8.00 | **no, +33 %** |" in text, "sched ratio to rr and 30 ns check")
        check("| wlc | pick tree |" in text and "| rr | counted4 |" in text,
              "sched: what rvsd runs, tree where there is one")
        check("| rr | 5.00 | 1.00 | yes, -83 % |" in text, "a pick under 30 ns meets the target")
        check("| wlc | 60.0 | 1.50 | 60.0 | – | **no, +100 %** |" in text,
              "shared counters: ratio to view, no rr at that set")
        check("| 1M | 20.0 | 50.00 | 10.0 | 100.00 | 2.00 |" in text, "conn lookups burst/single")
        check("| 0.0100 | 0.0050 |" in text, "small control times keep 3 significant digits")
        check("| icmp_echo | 4.00 | 8.00 | 0.50 | 3 |" in text, "worker_rate row")
        check("1 of 2 runs; lowest 0.70" in text, "line-rate summary counts runs that met")
        check("| nat | udp | 64 | 9.00 | 0.100 | 0.90 | yes, +5.9 % | 7.00 | 0.100 | 0.70 | **no, -18 %** |"
              in text, "line-rate row: per flow count, loss in percent, ratio to the ceiling")
        check("| nat | udp | 64 | 1 M | 9.00 | 7.00 | 0.100 | 10.00 | 0.70 |" in text,
              "line-rate details: every run with its tx rate")
        check("what the profile shows is in `benchmarks/notes.md`, which this run did not have"
              in text, "missed targets point to the profile notes")
        check("| haproxy | haproxy | 40 000 | 1.50 |" in text, "side-by-side ratio rvs/haproxy")
        check("failed: boom" in text, "failed contender shown with its error")
        check("requests/s (≥ 2) | 60 000 vs 40 000 req/s | 1.50 | **no, -25 %**" in text,
              "HAProxy target: 1.5x of the 2x needed")
        check("not measured: the 16-core device machine was not lent" in text, "scaling note")
        for name in ("pipeline", "sched", "linerate", "latency", "sidebyside"):
            p = os.path.join(img, name + ".png")
            check(plt is None or (os.path.exists(p) and os.path.getsize(p) > 1000),
                  f"plot {name}.png written")
            check(plt is None or f"](benchmarks/{name}.png)" in text, f"plot {name} referenced")
        check(not plots.failed, f"no plot failed: {plots.failed}")

        # An empty result directory: every section says why, nothing crashes.
        empty = os.path.join(tmp, "empty")
        os.makedirs(empty)
        text, _ = write_report(empty, md, img)
        for what in ("machine.json", "worker_rate.json", "linerate.json", "sidebyside.json",
                     "criterion results for pipeline", "criterion results for sched"):
            check(f"not run: no {what}" in text, f"empty run names missing {what}")
        check(not os.path.isdir(img) or not [n for n in os.listdir(img) if n.endswith(".png")],
              "plots of the earlier run are removed")

        # Broken input: a truncated JSON file is reported, not fatal.
        with open(os.path.join(empty, "linerate.json"), "w") as f:
            f.write('{"kind": "linerate", "runs": [')
        text, _ = write_report(empty, md, img)
        check("not run: linerate.json cannot be read" in text, "unreadable JSON is reported")

    if failures:
        for f in failures:
            print(f"selftest FAILED: {f}", file=sys.stderr)
        return 1
    print(f"selftest ok{'' if plt else ' (without matplotlib: plots not checked)'}")
    return 0


def main(argv):
    args = argv[1:]
    if args == ["--selftest"]:
        return _selftest()
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if args else 2
    d = args[0]
    md = os.path.join(ROOT, "BENCHMARKS.md")
    img = None
    notes = None
    i = 1
    while i < len(args):
        if args[i] in ("--md", "--img-dir", "--notes") and i + 1 < len(args):
            if args[i] == "--md":
                md = args[i + 1]
            elif args[i] == "--img-dir":
                img = args[i + 1]
            else:
                notes = args[i + 1]
            i += 2
        else:
            print(f"report.py: unknown or incomplete argument: {args[i]}\n\n{__doc__.strip()}",
                  file=sys.stderr)
            return 2
    if not os.path.isdir(d):
        print(f"report.py: {d} is not a directory of results", file=sys.stderr)
        return 2
    img = img or os.path.join(os.path.dirname(os.path.abspath(md)), "benchmarks")
    _text, plots = write_report(d, md, img, notes)
    print(f"report.py: wrote {md} and {len(plots.made)} plot(s) in {img}")
    if plots.failed:
        print("report.py: plots that failed: " + "; ".join(plots.failed), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
