#!/usr/bin/env python3
"""cseq_order.py - RFC 3261 §10.3 step 7: a REGISTER whose CSeq is not higher than the one stored
for the binding's Call-ID is out of order and gets 400; the binding is left as it was.

    cseq_order.py TRANSPORT HOST PORT

Sequence (one Call-ID, a new transaction - new Via branch - each time):
    CSeq 5 -> 200 listing c1;  CSeq 4 -> 400;  CSeq 5 with another From tag -> 400;  CSeq 5 with
    the first's From tag -> 482 (while the first transaction lives it is a merged request, RFC 3261
    §8.2.2.2, refused before the registrar sees it);  CSeq 6 (expires 1800) -> 200 listing c1
    once, with the new interval. (SIPp cannot send a lower CSeq: it discards the answer as stale.)
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Conn, new_call_id, new_tag, show  # noqa: E402


def main(transport, host, port):
    ck = Checker("cseq_order/%s" % transport)
    c = Conn(transport, host, port)
    user = "cseq%d" % os.getpid()
    call_id, tag = new_call_id(), new_tag()
    contact = "<sip:c1@%s:%d;transport=%s>" % (c.via_host, c.local_port, transport)

    def reg(cseq, expires=3600, from_tag=tag):
        req = c.request("REGISTER", user=user, call_id=call_id, from_tag=from_tag, cseq=cseq,
                        headers=["Contact: %s" % contact, "Expires: %d" % expires])
        return req, c.transact(req)

    req, r = reg(5)
    ck.ok(r is not None and r.status == 200, "CSeq 5 -> 200", show(req, r))
    req, r = reg(4)
    ck.ok(r is not None and r.status == 400, "CSeq 4 after 5 (same Call-ID, new branch) -> 400",
          show(req, r))
    req, r = reg(5, from_tag=new_tag())
    ck.ok(r is not None and r.status == 400,
          "CSeq 5 again in a new transaction (another From tag) -> 400", show(req, r))
    req, r = reg(5)
    ck.ok(r is not None and r.status == 482,
          "CSeq 5 again with the first's From tag while its transaction lives -> 482 (merged)",
          show(req, r))
    req, r = reg(6, expires=1800)
    good = r is not None and r.status == 200
    ck.ok(good, "CSeq 6 -> 200", show(req, r))
    if good:
        cs = [u for u, _ in r.contacts() if u.startswith("sip:c1@")]
        ck.ok(len(cs) == 1, "the binding is listed exactly once", show(req, r))
        exp = [p.get("expires") for u, p in r.contacts() if u.startswith("sip:c1@")]
        ck.ok(exp and exp[0] is not None and 1790 <= int(exp[0]) <= 1800,
              "its expires is the new 1800 s interval", show(req, r))
    c.close()
    ck.done()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
