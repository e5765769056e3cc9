#!/usr/bin/env python3
"""User-space IPIP decapsulator for a TUN-method (LVS `-i`) real server.

This kernel has no ipip module, so a real server cannot terminate the
director's IPIP tunnel (RFC 2003: outer IPv4 header, protocol 4, then the
client's original packet) in the kernel. This tool does it in the RS's
namespace:

  - a raw socket for IP protocol 4 receives each outer packet (with its
    outer header; the kernel has reassembled fragments already). While it is
    open the kernel also stops answering protocol 4 with "protocol
    unreachable";
  - the inner packet is written to TUN device --dev (IFF_TUN|IFF_NO_PI),
    which holds each --vip as a /32, so the RS kernel receives CIP -> VIP as
    if it had arrived on that device, and answers VIP -> CIP by its own
    routes, straight to the client (replies bypass the director);
  - rp_filter is turned off (all and --dev): the route back to the CIP does
    not leave by the TUN device, and strict reverse-path filtering would drop
    every inner packet.

Usage (inside the RS namespace, as root):

    ipip-decap.py --dev vip0 --vip 198.18.0.100 [--vip ...] [--max-seconds 900]

Prints "ready ..." on stdout once the device holds the VIPs and the socket is
open; logs to stderr; exits on SIGTERM/SIGINT or after --max-seconds, logging
how many packets it decapsulated and dropped.
"""
import argparse
import os
import socket
import sys

# No __pycache__ next to the scripts in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tundev  # noqa: E402

TOOL = "ipip-decap"
IPPROTO_IPIP = 4


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dev", default="vip0", help="TUN device to create (holds the VIPs)")
    ap.add_argument("--vip", action="append", required=True, help="VIP to hold as a /32 (repeatable)")
    ap.add_argument("--max-seconds", type=float, default=900, help="exit after this long")
    a = ap.parse_args()

    tun = tundev.open_tun(a.dev)
    for vip in a.vip:
        tundev.sh("ip", "addr", "replace", f"{vip}/32", "dev", a.dev)
    tundev.sh("ip", "link", "set", a.dev, "up")
    # The effective rp_filter is the larger of `all` and the device's own.
    tundev.sysctl("net.ipv4.conf.all.rp_filter", 0)
    tundev.sysctl(f"net.ipv4.conf.{a.dev}.rp_filter", 0)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_IPIP)
    raw.setblocking(False)
    runner = tundev.Runner(TOOL, a.max_seconds)
    print(f"ready {TOOL} dev={a.dev} vips={','.join(a.vip)}", flush=True)

    decapsulated = dropped = 0
    while runner.ready_fds([raw]) is not None:
        while True:
            try:
                outer = raw.recv(65535)
            except BlockingIOError:
                break
            outer_len = tundev.ipv4_total_length(outer)
            if outer_len is None or outer[9] != IPPROTO_IPIP:
                dropped += 1
                continue
            inner = outer[(outer[0] & 0x0F) * 4 : outer_len]
            inner_len = tundev.ipv4_total_length(inner)
            if inner_len is None:
                dropped += 1
                continue
            try:
                os.write(tun, inner[:inner_len])
                decapsulated += 1
            except OSError as e:
                dropped += 1
                tundev.log(TOOL, f"write to {a.dev}: {e}")
    tundev.log(TOOL, f"decapsulated {decapsulated} packets, dropped {dropped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
