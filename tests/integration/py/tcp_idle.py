#!/usr/bin/env python3
"""tcp_idle.py - transport.tcp_idle_timeout_s: a TCP connection with no traffic is closed by the
server after the idle timeout; one that keeps sending CRLFCRLF keep-alives (RFC 5626 §3.5.1)
is not.

    tcp_idle.py HOST PORT IDLE_S

The daemon must run with --set transport.tcp_idle_timeout_s=IDLE_S (small, e.g. 2).
  1. idle connection (after one OPTIONS): closed by the server within IDLE_S + 2 s, not before
     IDLE_S - 0.5 s.
  2. a connection pinging every IDLE_S/4 s is still open after 2 x IDLE_S and still answers.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Conn, show  # noqa: E402


def main(host, port, idle):
    ck = Checker("tcp_idle")
    quiet = Conn("tcp", host, port)
    busy = Conn("tcp", host, port)
    req = quiet.request("OPTIONS")
    r = quiet.transact(req)
    ck.ok(r is not None and r.status == 200, "idle connection: OPTIONS -> 200 first", show(req, r))
    t0 = time.monotonic()
    closed_at = None
    while time.monotonic() - t0 < 2 * idle + 2:
        busy.send(b"\r\n\r\n")
        busy.recv_raw(timeout=0.2)
        if closed_at is None and quiet.is_closed(timeout=0.05):
            closed_at = time.monotonic() - t0
        time.sleep(idle / 4.0)
    ck.ok(closed_at is not None and closed_at <= idle + 2,
          "idle connection closed by the server within %.1f s (at %s)"
          % (idle + 2, "%.2f s" % closed_at if closed_at is not None else "never"))
    ck.ok(closed_at is None or closed_at >= idle - 0.5,
          "idle connection not closed before the timeout (%.1f s)" % idle)
    ck.ok(not busy.is_closed(timeout=0.05), "a connection sending keep-alives stays open")
    req = busy.request("OPTIONS")
    r = busy.transact(req)
    ck.ok(r is not None and r.status == 200, "the kept-alive connection still answers", show(req, r))
    quiet.close()
    busy.close()
    ck.done()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
