#!/usr/bin/env python3
"""proxy_redirect.py - the redirect mode (RFC 3261 §8.3, §21.3.3): an INVITE to a registered
user gets 302 Moved Temporarily listing every binding as a Contact with its q and its remaining
expires.

    proxy_redirect.py TR HOST PORT --domain D --user U [--register 'URI|Q|EXPIRES']...
                      --expect CODE

Registers the given bindings for U@D in one REGISTER (Q may be empty: no q parameter), then sends
INVITE sip:U@D and checks the final response: its code; for a 302, that every registered URI is
listed exactly once (in <>, URI parameters kept), with the registered q (numerically; absent or
1 when registered without q), and expires between EXPIRES-3 and EXPIRES, that nothing else is
listed, that only our Via is there and no Record-Route. The final response is ACKed (same branch).
Exit 0 when every check passed.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import (build, Checker, Conn, cseq_method, new_branch, new_call_id, new_tag,
                       register, SDP, show, via_branch)  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("transport")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--domain", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--register", action="append", default=[])
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--name", default="redirect")
    a = ap.parse_args()
    ck = Checker("%s/%s" % (a.name, a.transport))
    dev = Conn(a.transport, a.host, a.port, endpoint=True)

    wanted = []
    for spec in a.register:
        uri, q, exp = spec.split("|")
        wanted.append((uri, q or None, int(exp)))
    if wanted:
        contacts = ["<%s>%s;expires=%d" % (u, ";q=%s" % q if q else "", e) for u, q, e in wanted]
        r = register(dev, a.user, a.domain, contacts)
        if not ck.ok(r is not None and r.status == 200, "REGISTER of %d binding(s) -> 200 (got %s)"
                     % (len(wanted), r and r.start_line)):
            ck.done()

    branch, tag, cid = new_branch(), new_tag(), new_call_id()
    via = "SIP/2.0/%s %s:%d;rport;branch=%s" % (dev.T, dev.local_ip, dev.local_port, branch)
    ruri = "sip:%s@%s" % (a.user, a.domain)
    common = ["Via: %s" % via, "Max-Forwards: 70",
              "From: <sip:caller@%s>;tag=%s" % (a.domain, tag), None,
              "Call-ID: %s" % cid]
    inv = build(["INVITE %s SIP/2.0" % ruri] + common[:3] + ["To: <%s>" % ruri] + common[4:] +
                ["CSeq: 1 INVITE",
                 "Contact: <sip:caller@%s:%d>" % (dev.local_ip, dev.local_port),
                 "Content-Type: application/sdp"], SDP)
    dev.send(inv)
    t0, final, resent = time.monotonic(), None, 0
    while time.monotonic() - t0 < 8 and final is None:
        m = dev.recv(0.5)
        if m is None:
            if dev.transport == "udp" and resent < 3:
                dev.send(inv)
                resent += 1
            continue
        if m.status is not None and m.status >= 200 and cseq_method(m) == "INVITE" \
                and via_branch(m.get("via")) == branch:
            final = m
    if not ck.ok(final is not None, "a final response to the INVITE", show(inv, final)):
        ck.done()
    dev.send(build(["ACK %s SIP/2.0" % ruri] + common[:3] + ["To: %s" % final.get("to")] +
                   common[4:] + ["CSeq: 1 ACK"]))
    s = show(inv, final)
    ck.ok(final.status == a.expect, "final response %d (got %d %s)"
          % (a.expect, final.status, final.reason), s)
    if final.status == 302:
        ck.ok(final.count("via") == 1, "302: only our Via", s)
        ck.ok(final.count("record-route") == 0, "302: no Record-Route", s)
        got = final.contacts()
        ck.ok(len(got) == len(wanted), "302 lists %d Contact(s) (got %d)" % (len(wanted), len(got)), s)
        for uri, q, exp in wanted:
            same = [(u, p) for u, p in got if u.lower() == uri.lower()]
            if not ck.ok(len(same) == 1, "302 lists <%s> once (got %d)" % (uri, len(same)), s):
                continue
            p = same[0][1]
            if q is None:
                ck.ok(p.get("q") is None or float(p["q"]) == 1.0,
                      "<%s>: no q registered -> none (or 1) listed (got %r)" % (uri, p.get("q")), s)
            else:
                ok = p.get("q") is not None and abs(float(p["q"]) - float(q)) < 1e-6
                ck.ok(ok, "<%s>: q=%s listed (got %r)" % (uri, q, p.get("q")), s)
            e = p.get("expires")
            ok = e is not None and e.isdigit() and exp - 3 <= int(e) <= exp
            ck.ok(ok, "<%s>: expires=%d (+0/-3) listed (got %r)" % (uri, exp, e), s)
    dev.close()
    ck.done()


if __name__ == "__main__":
    main()
