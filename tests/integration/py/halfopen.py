#!/usr/bin/env python3
"""halfopen.py - TCP connections that hold a partial message (slowloris), and the per-source cap.

    halfopen.py hold HOST PORT --bind ADDR --count N --stall S
        Open N connections from ADDR, half of them sending the first bytes of a REGISTER and
        nothing more, half nothing at all; print "open N" once all are connected; then wait up to S + 10 s for sipd to close
        them (EOF or reset). Prints JSON {"opened": .., "closed": .., "closed_after_s": [min, max]}
        (how long each was held open, from its own connect) and exits 0 when every one was
        closed, none before S - 1 s.
    halfopen.py cap HOST PORT --bind ADDR --count N --cap C
        Open N connections from ADDR (each sends a complete OPTIONS). Exactly C must get an
        answer (200) and stay open, N - C must be closed by sipd without one. Exit 0 when so.
"""

import argparse
import json
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Conn  # noqa: E402

PARTIAL = b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.2:5060;branch=z9hG4bK"


def hold(a):
    socks, opened = [], {}
    for i in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((a.bind, 0))
        s.settimeout(5)
        s.connect((a.host, a.port))
        if i % 2 == 0:
            s.sendall(PARTIAL)  # the other half sends nothing at all
        s.setblocking(False)
        socks.append(s)
        opened[s.fileno()] = time.monotonic()
    print("open %d" % len(socks), flush=True)
    closed_at = {}
    ep = select.epoll()
    for s in socks:
        ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
    by_fd = {s.fileno(): s for s in socks}
    deadline = time.monotonic() + a.stall + 10
    while len(closed_at) < len(socks) and time.monotonic() < deadline:
        for fd, _ in ep.poll(0.5):
            if fd in closed_at:
                continue
            try:
                data = by_fd[fd].recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                closed_at[fd] = time.monotonic() - opened[fd]  # held this long
                ep.unregister(fd)
    out = {"opened": len(socks), "closed": len(closed_at)}
    if closed_at:
        out["closed_after_s"] = [round(min(closed_at.values()), 2), round(max(closed_at.values()), 2)]
    print(json.dumps(out), flush=True)
    ok = len(closed_at) == len(socks) and min(closed_at.values()) >= a.stall - 1
    for s in socks:
        s.close()
    return 0 if ok else 1


def conn_from(bind, host, port):
    """A sipclient Conn over TCP whose socket is bound to `bind` (Conn binds to the server's own
    address family's host; here the source address is the point)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((bind, 0))
    s.settimeout(3)
    s.connect((host, port))
    c = Conn.__new__(Conn)
    c.transport, c.host, c.port, c.server, c.endpoint = "tcp", host, port, (host, port), False
    c.sock, c.connected, c.buf, c.last_peer = s, True, b"", None
    c.local_ip, c.local_port = s.getsockname()[:2]
    return c


def cap(a):
    conns, answered, refused = [], 0, 0
    for _ in range(a.count):
        c = conn_from(a.bind, a.host, a.port)
        conns.append(c)
        time.sleep(0.02)  # accepted (or refused) in order
    for c in conns:
        try:
            r = c.transact(c.request("OPTIONS", ruri="sip:%s:%d" % (a.host, a.port)), timeout=2.0)
        except OSError:
            r = None
        if r is not None and r.status == 200:
            answered += 1
        else:
            refused += 1
    print(json.dumps({"connections": a.count, "answered": answered, "refused": refused}), flush=True)
    for c in conns:
        c.close()
    return 0 if answered == a.cap and refused == a.count - a.cap else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["hold", "cap"])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--stall", type=float, default=3)
    ap.add_argument("--cap", type=int, default=0)
    a = ap.parse_args()
    sys.exit(hold(a) if a.mode == "hold" else cap(a))


if __name__ == "__main__":
    main()
