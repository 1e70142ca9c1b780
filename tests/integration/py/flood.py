#!/usr/bin/env python3
"""flood.py - one source floods sipd with OPTIONS over UDP and counts what comes back.

    flood.py HOST PORT --bind ADDR [--seconds S] [--rate N] [--method M] [--ruri URI]
             [--distinct-users] [--tail T]

Sends up to N requests per second (each a new transaction: new Call-ID and branch) from ADDR for
S seconds (Request-URI: URI, by default the server's own sip:HOST:PORT), reading answers as it
goes, then listens T more seconds (1). From and To are sip:flood@example.com, or with
--distinct-users sip:floodN@example.com, N counting the requests (no two wait on one AOR). Prints one line of JSON:
{"sent": .., "ok": .. (2xx), "throttled": .. (503), "retry_after": .. (503 with Retry-After),
"other": .., "per_second": [requests sent in each second]}. The caller asserts on the numbers.
"""

import argparse
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Message, new_branch, new_call_id, new_tag  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--method", default="OPTIONS")
    ap.add_argument("--ruri", default=None)
    ap.add_argument("--distinct-users", action="store_true")
    ap.add_argument("--tail", type=float, default=1.0)
    a = ap.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.bind, 0))
    s.connect((a.host, a.port))
    s.setblocking(False)
    lport = s.getsockname()[1]
    out = {"sent": 0, "ok": 0, "throttled": 0, "retry_after": 0, "other": 0, "per_second": []}

    def drain():
        while True:
            try:
                data = s.recv(70000)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            try:
                m = Message(data)
            except ValueError:
                out["other"] += 1
                continue
            if m.status is None:
                continue
            if 200 <= m.status < 300:
                out["ok"] += 1
            elif m.status == 503:
                out["throttled"] += 1
                if m.get("retry-after"):
                    out["retry_after"] += 1
            else:
                out["other"] += 1

    start = time.monotonic()
    sec = -1
    while True:
        now = time.monotonic() - start
        if now >= a.seconds:
            break
        if int(now) != sec:
            sec = int(now)
            out["per_second"].append(0)
        # pace: never ahead of rate * elapsed
        if out["sent"] < a.rate * now + 1:
            ruri = a.ruri or "sip:%s:%d" % (a.host, a.port)
            user = "flood%d" % out["sent"] if a.distinct_users else "flood"
            msg = ("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;rport;branch=%s\r\nMax-Forwards: 70\r\n"
                   "From: <sip:%s@example.com>;tag=%s\r\nTo: <sip:%s@example.com>\r\n"
                   "Call-ID: %s\r\nCSeq: 1 %s\r\nContent-Length: 0\r\n\r\n" % (
                       a.method, ruri, a.bind, lport, new_branch(), user, new_tag(), user,
                       new_call_id(), a.method)).encode()
            try:
                s.send(msg)
                out["sent"] += 1
                out["per_second"][-1] += 1
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                pass
        else:
            time.sleep(0.0005)
        drain()
    end = time.monotonic() + a.tail
    while time.monotonic() < end:
        drain()
        time.sleep(0.01)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
