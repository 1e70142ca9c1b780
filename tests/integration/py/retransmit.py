#!/usr/bin/env python3
"""retransmit.py - a retransmitted request (same Via branch, same CSeq, same bytes) is absorbed
by the server transaction (RFC 3261 §17.2.2): the last response is sent again, the registrar
does not see the request twice.

    retransmit.py udp HOST PORT

UDP only: over TCP the client never retransmits, and a non-INVITE server transaction on a
reliable transport ends as soon as its final response is sent (RFC 3261 §17.2.2, Timer J = 0),
so the same request arriving again over TCP is a new request.

Checks:
  1. REGISTER -> 200; the identical bytes again -> 200 (NOT 400 out-of-order), byte-for-byte the
     same response (same To tag, same Contact list, same Date).
  2. The binding is listed once; a new REGISTER (new branch, CSeq+1) still gets 200.
  3. A request answered 400 (out-of-order CSeq, another From tag), retransmitted, gets the same
     400 again.
  4. An OPTIONS retransmission gets the same 200 again.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Conn, new_call_id, new_tag, show  # noqa: E402


def main(transport, host, port):
    ck = Checker("retransmit/%s" % transport)
    c = Conn(transport, host, port)
    user = "retr%d" % os.getpid()
    call_id, tag = new_call_id(), new_tag()
    contact = "<sip:c1@%s:%d;transport=%s>" % (c.via_host, c.local_port, transport)

    def register(cseq, from_tag=tag):
        return c.request("REGISTER", user=user, call_id=call_id, from_tag=from_tag, cseq=cseq,
                         headers=["Contact: %s" % contact, "Expires: 3600"])

    req = register(1)
    r1 = c.transact(req)
    ck.ok(r1 is not None and r1.status == 200, "REGISTER -> 200", show(req, r1))
    r2 = c.transact(req)
    ck.ok(r2 is not None and r2.status == 200,
          "retransmitted REGISTER (same branch, same CSeq) -> 200 again, not 400", show(req, r2))
    if r1 is not None and r2 is not None:
        ck.ok(r1.to_tag() == r2.to_tag(), "same To tag in both answers",
              "first: %s\nsecond: %s" % (r1.get("to"), r2.get("to")))
        ck.ok(r1.raw == r2.raw, "the retransmission got the very same response bytes",
              "--- first ---\n%s\n--- second ---\n%s" % (r1.summary(), r2.summary()))
    if r2 is not None and r2.status == 200:
        n = len([u for u, _ in r2.contacts() if u.startswith("sip:c1@")])
        ck.ok(n == 1, "the binding is listed once after the retransmission", show(req, r2))
    extra = c.recv(timeout=0.5)
    ck.ok(extra is None, "no further response arrives (one answer per copy of the request)",
          extra.summary() if extra is not None else None)

    req = register(2)
    r = c.transact(req)
    ck.ok(r is not None and r.status == 200, "next REGISTER (new branch, CSeq 2) -> 200", show(req, r))

    # a request that failed: CSeq 1 again in a new transaction -> 400; its retransmission -> 400
    # (another From tag: with the first's, while that transaction lives, it would be a merged
    # request, 482 -- RFC 3261 §8.2.2.2, t_uas_conformance)
    req = register(1, from_tag=new_tag())
    r1 = c.transact(req)
    ck.ok(r1 is not None and r1.status == 400, "CSeq 1 in a new transaction -> 400", show(req, r1))
    r2 = c.transact(req)
    ck.ok(r2 is not None and r2.status == 400 and (r1 is None or r1.raw == r2.raw),
          "its retransmission gets the same 400 again", show(req, r2))

    # back-to-back copies (the second may arrive while the first is still being processed, e.g.
    # waiting on PostgreSQL): every answer is the same 200, never a 400
    req = register(3)
    c.send(req)
    c.send(req)
    answers = []
    while True:
        r = c.recv(timeout=1.0 if not answers else 0.5)
        if r is None:
            break
        answers.append(r)
    ck.ok(len(answers) >= 1 and all(a.status == 200 for a in answers),
          "two back-to-back copies of a REGISTER: only 200s come back (got %s)"
          % [a.status for a in answers], show(req, answers[-1] if answers else None))
    ck.ok(len(answers) <= 2 and len(set(a.raw for a in answers)) <= 1,
          "two back-to-back copies: at most two answers, identical")

    req = c.request("OPTIONS", user=user)
    r1 = c.transact(req)
    r2 = c.transact(req)
    ck.ok(r1 is not None and r1.status == 200, "OPTIONS -> 200", show(req, r1))
    ck.ok(r2 is not None and r2.status == 200 and (r1 is None or r1.raw == r2.raw),
          "retransmitted OPTIONS -> the same 200 again", show(req, r2))
    c.close()
    ck.done()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
