#!/usr/bin/env python3
"""The client of rvs's end-to-end tests: requests to a VIP, one parseable line each.

Run inside the client namespace. Every request has its own timeout, so a run
takes at most about n * timeout seconds.

  client.py http --dst VIP --port 80 -n 10 [--src CIP] [--path /] [--keepalive]
      one line per request:  http <i> ok <rs> <ms>   |  http <i> err <reason>
      (each request is a new TCP connection from a new source port unless
      --keepalive, which sends all of them over one connection)
  client.py udp --dst VIP --port 5353 -n 10 [--src CIP] [--same-port]
      one line per request:  udp <i> ok <rs> <ms>    |  udp <i> err <reason>
      (each request from a new source port unless --same-port)
  client.py get --dst VIP --port 80 --path /big [--src CIP]
      one line:  get ok <rs> <bytes> <sha256> <ms>   |  get err <reason>

<rs> is the name the real server put in its answer (the X-RS header for
HTTP, the first word for UDP). <reason> is one word (no spaces). The exit
status is 0 when every request succeeded, 1 otherwise.
"""
import argparse
import hashlib
import http.client
import os
import socket
import sys
import time


def word(text):
    return "_".join(str(text).split()) or "error"


def ms_since(t0):
    return f"{(time.monotonic() - t0) * 1000:.1f}"


def http_requests(a):
    failures = 0
    conn = None
    for i in range(a.n):
        t0 = time.monotonic()
        try:
            if conn is None:
                src = (a.src, 0) if a.src else None
                conn = http.client.HTTPConnection(a.dst, a.port, timeout=a.timeout, source_address=src)
            conn.request("GET", a.path, headers={"Connection": "keep-alive" if a.keepalive else "close"})
            resp = conn.getresponse()
            body = resp.read()
            rs = resp.getheader("X-RS") or body.decode(errors="replace").strip() or "?"
            if resp.status != 200:
                raise RuntimeError(f"status_{resp.status}")
            print(f"http {i} ok {word(rs)} {ms_since(t0)}", flush=True)
        except Exception as e:  # one line per request whatever went wrong
            failures += 1
            print(f"http {i} err {word(type(e).__name__ + ':' + str(e))}", flush=True)
            if conn is not None:
                conn.close()
            conn = None
        if not a.keepalive and conn is not None:
            conn.close()
            conn = None
        if a.interval:
            time.sleep(a.interval)
    if conn is not None:
        conn.close()
    return failures


def udp_requests(a):
    failures = 0
    sock = None
    for i in range(a.n):
        t0 = time.monotonic()
        try:
            if sock is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.settimeout(a.timeout)
                sock.bind((a.src or "0.0.0.0", 0))
                sock.connect((a.dst, a.port))
            nonce = f"req-{os.getpid()}-{i}".encode()
            sock.send(nonce)
            deadline = t0 + a.timeout
            while True:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                data = sock.recv(65535)
                parts = data.split(b" ", 1)
                # Ignore a late answer to an earlier request.
                if len(parts) == 2 and parts[1] == nonce:
                    break
            print(f"udp {i} ok {word(parts[0].decode(errors='replace'))} {ms_since(t0)}", flush=True)
        except Exception as e:
            failures += 1
            print(f"udp {i} err {word(type(e).__name__ + ':' + str(e))}", flush=True)
            if sock is not None:
                sock.close()
            sock = None
        if not a.same_port and sock is not None:
            sock.close()
            sock = None
        if a.interval:
            time.sleep(a.interval)
    if sock is not None:
        sock.close()
    return failures


def download(a):
    t0 = time.monotonic()
    try:
        src = (a.src, 0) if a.src else None
        conn = http.client.HTTPConnection(a.dst, a.port, timeout=a.timeout, source_address=src)
        conn.request("GET", a.path)
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"status_{resp.status}")
        rs = resp.getheader("X-RS") or "?"
        digest = hashlib.sha256()
        total = 0
        while True:
            chunk = resp.read(1 << 16)
            if not chunk:
                break
            digest.update(chunk)
            total += len(chunk)
        conn.close()
        print(f"get ok {word(rs)} {total} {digest.hexdigest()} {ms_since(t0)}", flush=True)
        return 0
    except Exception as e:
        print(f"get err {word(type(e).__name__ + ':' + str(e))}", flush=True)
        return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, port, timeout in (("http", 80, 3.0), ("udp", 5353, 2.0), ("get", 80, 20.0)):
        p = sub.add_parser(name)
        p.add_argument("--dst", required=True, help="VIP (or any address) to ask")
        p.add_argument("--port", type=int, default=port)
        p.add_argument("--src", help="client source address (CIP)")
        p.add_argument("--timeout", type=float, default=timeout, help="seconds per request")
        if name != "get":
            p.add_argument("-n", type=int, default=1, help="number of requests")
            p.add_argument("--interval", type=float, default=0.0, help="seconds between requests")
        if name != "udp":
            p.add_argument("--path", default="/big" if name == "get" else "/")
        if name == "http":
            p.add_argument("--keepalive", action="store_true", help="one connection for all requests")
        if name == "udp":
            p.add_argument("--same-port", action="store_true", help="one source port for all requests")
    a = ap.parse_args()
    failures = {"http": http_requests, "udp": udp_requests, "get": download}[a.cmd](a)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
