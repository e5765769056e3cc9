#!/usr/bin/env python3
"""A real server for rvs's end-to-end tests: HTTP and UDP, each answer naming it.

Run inside a real-server namespace:

    rs-server.py --name rs1 --http 80 --http 8080 --udp 5353

HTTP (HTTP/1.1, keep-alive when the client asks):
  GET /      -> "<name>\n"
  GET /big   -> --big-bytes of deterministic data (see big_body); every
                response also carries the header "X-RS: <name>".
UDP: each datagram is answered with "<name> <datagram>" from the address the
datagram was sent to (IP_PKTINFO), so a DR or TUN real server answers from the
VIP, not from its own address.

Sockets bind to 0.0.0.0, so the server answers on the RIP and on a VIP that
the namespace holds (on lo for DR, on the decapsulator's TUN device for TUN).
Prints one line "ready <name> ..." on stdout once every socket listens. Exits
on SIGTERM or SIGINT, and by itself after --max-seconds (a bound for servers
whose test died without cleaning up).
"""
import argparse
import hashlib
import http.server
import signal
import socket
import struct
import sys
import threading

# Linux's IP_PKTINFO (in.h); Python's socket module does not export it.
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)


def big_body(size):
    """Position-dependent bytes: block i is sha256(i as 8 big-endian bytes).

    A reordered, duplicated or lost segment changes the digest. With the
    default 4 MiB the sha256 of the whole is
    931b8b883a3f86a9e187c538abeb95490596b23d7440d3a898472a07ce0c5169 (see
    `rs-server.py --print-big-sha256`; tests/common/topo.rs holds the value).
    """
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:size])


def log(msg):
    print(f"rs-server: {msg}", file=sys.stderr, flush=True)


def make_handler(name, big):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "rvs-rs"
        # A stuck client must not hold a thread forever.
        timeout = 30

        def _send(self, body, head_only=False):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-RS", name)
            self.end_headers()
            if not head_only:
                self.wfile.write(body)

        def _route(self, head_only):
            path = self.path.split("?", 1)[0]
            if path in ("/", "/name"):
                self._send(f"{name}\n".encode(), head_only)
            elif path == "/big":
                self._send(big, head_only)
            else:
                self.send_error(404)

        def do_GET(self):
            self._route(False)

        def do_HEAD(self):
            self._route(True)

        def log_message(self, fmt, *args):
            pass

    return Handler


class Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


def udp_loop(sock, name, stop):
    prefix = name.encode() + b" "
    sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    sock.settimeout(0.5)
    while not stop.is_set():
        try:
            data, anc, _flags, peer = sock.recvmsg(65535, socket.CMSG_SPACE(12))
        except socket.timeout:
            continue
        except OSError as e:
            log(f"udp receive: {e}")
            continue
        # Answer from the address the request was sent to: struct in_pktinfo
        # is {ifindex, spec_dst, addr}; addr is the header's destination.
        cmsgs = []
        for level, kind, value in anc:
            if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(value) >= 12:
                _ifindex, _spec, dst = struct.unpack("=I4s4s", value[:12])
                cmsgs = [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("=I4s4s", 0, dst, b"\0" * 4))]
        try:
            sock.sendmsg([prefix + data[:1400]], cmsgs, 0, peer)
        except OSError as e:
            log(f"udp reply to {peer}: {e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--name", help="the name every answer carries (rs1, rs2, ...)")
    ap.add_argument("--http", type=int, action="append", default=[], help="HTTP port (repeatable)")
    ap.add_argument("--udp", type=int, action="append", default=[], help="UDP echo port (repeatable)")
    ap.add_argument("--big-bytes", type=int, default=4 << 20, help="size of /big")
    ap.add_argument("--max-seconds", type=float, default=900, help="exit after this long")
    ap.add_argument("--print-big-sha256", action="store_true", help="print sha256 of /big and exit")
    a = ap.parse_args()

    big = big_body(a.big_bytes)
    if a.print_big_sha256:
        print(hashlib.sha256(big).hexdigest())
        return 0
    if not a.name or not (a.http or a.udp):
        ap.error("--name and at least one --http or --udp port are needed")

    stop = threading.Event()

    def on_signal(signum, _frame):
        log(f"signal {signum}: stopping")
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    handler = make_handler(a.name, big)
    for port in a.http:
        srv = Server(("0.0.0.0", port), handler)
        threading.Thread(target=srv.serve_forever, args=(0.2,), daemon=True).start()
    for port in a.udp:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
        threading.Thread(target=udp_loop, args=(sock, a.name, stop), daemon=True).start()

    ports = ",".join(map(str, a.http))
    uports = ",".join(map(str, a.udp))
    print(f"ready {a.name} http={ports} udp={uports} big={a.big_bytes}", flush=True)
    if not stop.wait(a.max_seconds):
        log(f"{a.max_seconds} s passed: exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
