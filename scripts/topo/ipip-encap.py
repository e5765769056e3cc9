#!/usr/bin/env python3
"""A stand-in TUN-method director for testing real servers without rvsd.

In a namespace that routes between the client and the server segment (the
LB namespace of tests/common/topo.rs in kernel-router mode), this sends every
packet for --vip to one of the --rip real servers inside IPIP (RFC 2003,
outer header DIP -> RIP, protocol 4), as LVS's `-i` method does:

  - it creates TUN device --dev and routes VIP/32 to it, so the kernel hands
    client -> VIP packets to this process;
  - each packet goes out through a raw socket of protocol 4, to which the
    kernel adds the outer header (source: the namespace's address toward the
    RIP). The RIP is chosen by a hash of the inner flow (addresses, protocol,
    ports) so that a TCP connection stays on one RS.

Usage:

    ipip-encap.py --dev enc0 --vip 198.18.0.100 --rip 198.19.0.12 [--rip ...]

Prints "ready ..." on stdout when the route is in place; logs to stderr;
exits on SIGTERM/SIGINT or after --max-seconds.
"""
import argparse
import os
import socket
import sys
import zlib

# No __pycache__ next to the scripts in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tundev  # noqa: E402

TOOL = "ipip-encap"
IPPROTO_IPIP = 4
# linux/in.h: never set DF, let the kernel fragment an outer packet that
# exceeds the link MTU (the test emulation must not lose large requests).
IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0


def flow_key(pkt):
    """Addresses, protocol and (for TCP/UDP) ports of an inner IPv4 packet."""
    ihl = (pkt[0] & 0x0F) * 4
    key = pkt[12:20] + pkt[9:10]
    if pkt[9] in (6, 17) and len(pkt) >= ihl + 4:
        key += pkt[ihl : ihl + 4]
    return key


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dev", default="enc0", help="TUN device to create")
    ap.add_argument("--vip", required=True, help="VIP whose packets are tunnelled")
    ap.add_argument("--rip", action="append", required=True, help="real server (repeatable)")
    ap.add_argument("--max-seconds", type=float, default=900, help="exit after this long")
    a = ap.parse_args()

    tun = tundev.open_tun(a.dev)
    tundev.sh("ip", "link", "set", a.dev, "up")
    tundev.sh("ip", "route", "replace", f"{a.vip}/32", "dev", a.dev)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_IPIP)
    raw.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
    runner = tundev.Runner(TOOL, a.max_seconds)
    print(f"ready {TOOL} dev={a.dev} vip={a.vip} rips={','.join(a.rip)}", flush=True)

    encapsulated = dropped = 0
    while runner.ready_fds([tun]) is not None:
        try:
            pkt = os.read(tun, 65535)
        except BlockingIOError:
            continue
        if tundev.ipv4_total_length(pkt) is None:
            dropped += 1  # IPv6 or junk the kernel routed here
            continue
        rip = a.rip[zlib.crc32(flow_key(pkt)) % len(a.rip)]
        try:
            raw.sendto(pkt, (rip, 0))
            encapsulated += 1
        except OSError as e:
            dropped += 1
            tundev.log(TOOL, f"send to {rip}: {e}")
    tundev.log(TOOL, f"encapsulated {encapsulated} packets, dropped {dropped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
