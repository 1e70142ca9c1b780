#!/usr/bin/env python3
"""pg_outage.py - what REGISTER gets while PostgreSQL is away, and how soon it works again.

    pg_outage.py outage HOST PORT [PROMPT_S]
        PostgreSQL is down: 3 REGISTERs over UDP and 3 over TCP (each a new transaction) must each
        be answered - 503 (or 500) with Retry-After - within PROMPT_S seconds (default 2).
        None may go unanswered (5 s wait). OPTIONS, which needs no database, still gets 200.

    pg_outage.py recover HOST PORT LIMIT_S
        PostgreSQL is back: REGISTER over UDP every 200 ms until one gets 200; that must happen
        within LIMIT_S seconds of the start. Every attempt before it must be answered (503/500),
        not dropped.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Conn, new_call_id, new_tag, show  # noqa: E402


def register(c, user, call_id, tag, cseq):
    return c.request("REGISTER", user=user, call_id=call_id, from_tag=tag, cseq=cseq, headers=[
        "Contact: <sip:c9@%s:%d;transport=%s>" % (c.via_host, c.local_port, c.transport),
        "Expires: 600"])


def outage(host, port, prompt):
    ck = Checker("pg_outage/outage")
    user = "pgdown%d" % os.getpid()
    for transport in ("udp", "tcp"):
        c = Conn(transport, host, port)
        call_id, tag = new_call_id(), new_tag()
        for i in range(1, 4):
            req = register(c, user, call_id, tag, i)
            t0 = time.monotonic()
            r = c.transact(req, timeout=5.0)
            dt = time.monotonic() - t0
            if not ck.ok(r is not None, "%s REGISTER %d during the outage is answered" % (transport, i),
                         show(req, r)):
                continue
            ck.ok(r.status in (503, 500), "%s REGISTER %d: 503/500 (got %d %s)"
                  % (transport, i, r.status, r.reason), show(req, r))
            ck.ok(r.get("retry-after") is not None, "%s REGISTER %d: has Retry-After" % (transport, i),
                  show(req, r))
            ck.ok(dt <= prompt, "%s REGISTER %d: answered within %.1f s (took %.2f s)"
                  % (transport, i, prompt, dt))
        req = c.request("OPTIONS", user=user)
        r = c.transact(req)
        ck.ok(r is not None and r.status == 200, "%s OPTIONS during the outage -> 200" % transport,
              show(req, r))
        c.close()
    ck.done()


def recover(host, port, limit):
    ck = Checker("pg_outage/recover")
    user = "pgback%d" % os.getpid()
    c = Conn("udp", host, port)
    call_id, tag = new_call_id(), new_tag()
    start = time.monotonic()
    cseq, unanswered, last, req = 0, 0, None, None
    while time.monotonic() - start < limit + 5:
        cseq += 1
        req = register(c, user, call_id, tag, cseq)
        last = c.transact(req, timeout=2.0)
        if last is None:
            unanswered += 1
        elif last.status == 200:
            break
        elif last.status not in (500, 503):
            print("NOTE: attempt %d got %d %s" % (cseq, last.status, last.reason))
        time.sleep(0.2)
    took = time.monotonic() - start
    ok = last is not None and last.status == 200
    ck.ok(ok, "REGISTER works again after PostgreSQL is back (%d attempts, %.2f s)" % (cseq, took),
          show(req, last))
    if ok:
        ck.ok(took <= limit, "sipd reconnected within %.1f s (took %.2f s)" % (limit, took))
    ck.ok(unanswered == 0, "no attempt went unanswered while reconnecting (%d did)" % unanswered)
    c.close()
    ck.done()


if __name__ == "__main__":
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "outage":
        outage(host, port, float(sys.argv[4]) if len(sys.argv) > 4 else 2.0)
    else:
        recover(host, port, float(sys.argv[4]))
