"""Shared by ipip-decap.py and ipip-encap.py: a TUN device and a bounded loop.

open_tun() creates (or attaches to) a layer-3 TUN device without the packet
information header (IFF_TUN | IFF_NO_PI), so each read or write is exactly
one IP packet. Runner gives both tools the same life cycle: SIGTERM/SIGINT
or --max-seconds end the loop, every wait is at most 0.5 s, and counters are
logged to stderr on exit.
"""
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import time

# linux/if_tun.h
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def log(tool, msg):
    print(f"{tool}: {msg}", file=sys.stderr, flush=True)


def sh(*args):
    """Runs a configuration command; raises with its stderr when it fails."""
    r = subprocess.run(args, capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")


def sysctl(key, value):
    with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
        f.write(str(value))


def open_tun(name):
    """Opens TUN device `name` (created if missing) and returns its fd."""
    if len(name.encode()) > 15:
        raise ValueError(f"interface name {name!r} is longer than 15 bytes")
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def ipv4_total_length(pkt):
    """The IPv4 packet's own length, or None when `pkt` is not one."""
    if len(pkt) < 20 or pkt[0] >> 4 != 4 or (pkt[0] & 0x0F) < 5:
        return None
    total = struct.unpack_from("!H", pkt, 2)[0]
    if total < (pkt[0] & 0x0F) * 4 or total > len(pkt):
        return None
    return total


class Runner:
    """Stops on SIGTERM/SIGINT or after max_seconds; polls fds 0.5 s at a time."""

    def __init__(self, tool, max_seconds):
        self.tool = tool
        self.stopping = False
        self.deadline = time.monotonic() + max_seconds
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, signum, _frame):
        log(self.tool, f"signal {signum}: stopping")
        self.stopping = True

    def ready_fds(self, fds):
        """The readable fds among `fds`, or None when it is time to stop."""
        while not self.stopping:
            if time.monotonic() >= self.deadline:
                log(self.tool, "--max-seconds passed: exiting")
                return None
            try:
                readable, _, _ = select.select(fds, [], [], 0.5)
            except InterruptedError:
                continue
            if readable:
                return readable
        return None
