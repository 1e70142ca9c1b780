#!/usr/bin/env python3
"""proxy_call.py - a caller (UAC) through the proxy, for the cases SIPp cannot express: any of
several final codes, several 2xx from a fork, headers counted in the final response, timing.

    proxy_call.py TR HOST PORT --domain D (--to USER | --ruri URI) --expect CODES [options]

Sends one request (INVITE by default; --method for others) to the proxy at HOST:PORT over TR and
checks what comes back:
  --expect 603 | 408,487      the final response must have one of these codes
  --expect-100                a 100 Trying must arrive within 0.5 s (the proxy answers at once)
  --expect-2xx N              exactly N distinct 2xx (dialogs, by To tag) must arrive (forking)
  --expect-2xx-copies N       at least N copies of 2xx (retransmissions included) must arrive
  --linger S                  after the first final response keep listening S seconds
  --cancel-after-ringing      send CANCEL when the first 18x arrives (the CANCEL must get 200)
  --min-time/--max-time S     bounds on the time from the INVITE to the final response
  --expect-header NAME=N      the final response carries N header fields NAME (lines: a
                              challenge is never comma-combined, RFC 3261 §7.3.1)
  --expect-header-re NAME=RE  a header field NAME of the final response matches RE
  --max-forwards N, --header 'Name: value', --route VALUE   shape the request
  --call-id CID               (to meet a SIPp callee: its REGISTER's Call-ID)
For every non-2xx final the ACK is sent (same branch, hop by hop); for every 2xx the ACK and
then a BYE go along the route set (Record-Route reversed, Request-URI = the Contact), and the
BYE must get 200. Requests from the callee side (a BYE) are answered 200. On UDP the INVITE is
retransmitted per Timer A until a response comes, a BYE/CANCEL per Timer E.
Exit 0 when every check passed.
"""

import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import (build, Checker, Conn, cseq_method, header_lines, hostport_of_uri, Message,
                       new_branch, new_call_id, new_tag, remote_target, reply, request_method,
                       route_set_from, SDP, T1, via_branch)  # noqa: E402


class Call:
    def __init__(self, a):
        self.a = a
        self.dev = Conn(a.transport, a.host, a.port, endpoint=True)
        d = self.dev
        self.ruri = a.ruri or "sip:%s@%s" % (a.to, a.domain)
        self.to = "<sip:%s@%s>" % (a.to, a.domain) if a.to else "<%s>" % self.ruri
        self.call_id = a.call_id or new_call_id()
        self.from_tag = new_tag()
        self.branch = new_branch()
        self.via = "SIP/2.0/%s %s:%d;rport;branch=%s" % (d.T, d.local_ip, d.local_port, self.branch)
        self.frm = "<sip:caller@%s>;tag=%s" % (a.domain, self.from_tag)
        self.events = []          # (time, text) for the report
        self.t0 = None

    def note(self, text):
        self.events.append((time.monotonic() - self.t0, text))

    def report(self):
        return "\n".join("%7.3fs %s" % e for e in self.events)

    def request(self, method, cseq=1, ruri=None, to=None, via=None, routes=None, extra=(),
                body=b""):
        d = self.dev
        lines = ["%s %s SIP/2.0" % (method, ruri or self.ruri),
                 "Via: %s" % (via or "SIP/2.0/%s %s:%d;rport;branch=%s"
                              % (d.T, d.local_ip, d.local_port, new_branch()))]
        for r in (routes if routes is not None else self.a.route):
            lines.append("Route: %s" % r)
        lines += ["Max-Forwards: %d" % (self.a.max_forwards if method == self.a.method else 70),
                  "From: %s" % self.frm,
                  "To: %s" % (to or self.to),
                  "Call-ID: %s" % self.call_id,
                  "CSeq: %d %s" % (cseq, method)]
        if method in ("INVITE",) or (method == self.a.method and method != "ACK"):
            lines.append("Contact: <sip:caller@%s:%d;transport=%s>" % (d.local_ip, d.local_port,
                                                                      d.transport))
        lines += list(extra)
        if body:
            lines.append("Content-Type: %s" % ("application/sdp" if method == "INVITE"
                                                else "text/plain"))
        return build(lines, body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("transport")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--domain", required=True)
    ap.add_argument("--to")
    ap.add_argument("--ruri")
    ap.add_argument("--call-id")
    ap.add_argument("--method", default="INVITE")
    ap.add_argument("--expect", required=True)
    ap.add_argument("--expect-100", action="store_true")
    ap.add_argument("--expect-2xx", type=int)
    ap.add_argument("--expect-2xx-copies", type=int)
    ap.add_argument("--linger", type=float)
    ap.add_argument("--cancel-after-ringing", action="store_true")
    ap.add_argument("--min-time", type=float)
    ap.add_argument("--max-time", type=float)
    ap.add_argument("--expect-header", action="append", default=[])
    ap.add_argument("--expect-header-re", action="append", default=[])
    ap.add_argument("--max-forwards", type=int, default=70)
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--route", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=40.0)
    ap.add_argument("--name", default="call")
    a = ap.parse_args()

    ck = Checker(a.name)
    c = Call(a)
    d = c.dev
    expect = {int(x) for x in a.expect.split(",")}
    is_invite = a.method == "INVITE"
    body = SDP if is_invite else ("hello" if a.method == "MESSAGE" else b"")
    req = c.request(a.method, 1, via=c.via, extra=a.header, body=body)

    c.t0 = time.monotonic()
    d.send(req)
    c.note(">> %s %s" % (a.method, c.ruri))
    got_response = False
    next_tx, interval = time.monotonic() + T1, T1
    first_100 = None
    provisionals = []
    final = None              # the first final response to the request
    t_final = None
    finals = 0                # final responses received (retransmissions included)
    copies_2xx = 0            # 2xx received (retransmissions included)
    foreign, first_foreign = 0, None   # responses to our request without our Via branch on top
    dialogs = {}              # To tag -> {"resp": 2xx, "route": [...], "target": uri}
    cancel_resp = None
    cancel_sent = False
    end = time.monotonic() + a.timeout
    linger = a.linger if a.linger is not None else (1.0 if expect & set(range(200, 300)) else 0.6)

    while time.monotonic() < end:
        if final is not None and time.monotonic() > t_final + linger:
            break
        wait = 0.1
        m = d.recv(wait)
        now = time.monotonic()
        if m is None:
            if (d.transport == "udp" and not got_response and now >= next_tx):
                d.send(req)          # Timer A (INVITE) / E (non-INVITE)
                interval = interval * 2 if is_invite else min(interval * 2, 4.0)
                next_tx = now + interval
                c.note(">> %s (retransmission)" % a.method)
            continue
        if m.status is None:
            meth = request_method(m)
            c.note("<< %s (request from the callee side)" % meth)
            if meth != "ACK":
                d.send(reply(m, 200, "OK"))
            continue
        meth = cseq_method(m)
        c.note("<< %d %s (%s)%s" % (m.status, m.reason, meth,
                                   " to-tag=%s" % m.to_tag() if m.to_tag() else ""))
        if meth == "CANCEL":
            cancel_resp = m
            continue
        if meth != a.method:
            continue
        if via_branch(m.get("via")) != c.branch:
            if not foreign:
                first_foreign = m
            foreign += 1
            continue
        got_response = True
        if m.status < 200:
            if m.status == 100 and first_100 is None:
                first_100 = now - c.t0
            provisionals.append(m.status)
            if (a.cancel_after_ringing and not cancel_sent and 180 <= m.status < 200):
                cancel = c.request("CANCEL", 1, via=c.via)
                d.send(cancel)
                cancel_sent = True
                c.note(">> CANCEL")
            continue
        finals += 1
        if final is None:
            final, t_final = m, now
        if m.status >= 300:
            if is_invite:
                ack = c.request("ACK", 1, via=c.via, to=m.get("to"))
                d.send(ack)
                c.note(">> ACK (non-2xx, same branch)")
            continue
        # 2xx
        copies_2xx += 1
        tag = m.to_tag()
        if not is_invite:
            continue
        if tag not in dialogs:
            route = route_set_from(m, uac=True)
            target = remote_target(m)
            dialogs[tag] = {"resp": m, "route": route, "target": target, "acks": 0}
            ck.ok(target is not None, "2xx (to-tag %s) has a Contact" % tag, m.summary())
        dg = dialogs[tag]
        if dg["target"]:
            # the same ACK again for a retransmitted 2xx (RFC 3261 §13.2.2.4)
            if "ack" not in dg:
                dg["ack"] = c.request("ACK", 1, ruri=dg["target"], to=m.get("to"),
                                      routes=dg["route"])
            d.send(dg["ack"])
            dg["acks"] += 1
            c.note(">> ACK %s (2xx, %d Route)%s" % (dg["target"], len(dg["route"]),
                                                    " again" if dg["acks"] > 1 else ""))

    t_total = (t_final - c.t0) if t_final else None
    detail = c.report()
    ck.ok(foreign == 0, "every response carries our Via (top) with our branch (%d did not; "
          "the first follows)" % foreign, first_foreign.summary() if first_foreign else None)
    if not ck.ok(final is not None, "a final response arrived within %.0fs" % a.timeout, detail):
        ck.done()
    ck.ok(final.status in expect, "final response is %s (got %d %s)"
          % (a.expect, final.status, final.reason), detail + "\n--- final ---\n" + final.summary())
    if a.expect_100:
        ck.ok(first_100 is not None and first_100 <= 0.5,
              "100 Trying came at once (got %s)"
              % ("none" if first_100 is None else "%.3fs" % first_100), detail)
    if a.min_time is not None:
        ck.ok(t_total >= a.min_time, "final response not before %.1fs (got %.2fs)"
              % (a.min_time, t_total), detail)
    if a.max_time is not None:
        ck.ok(t_total <= a.max_time, "final response within %.1fs (got %.2fs)"
              % (a.max_time, t_total), detail)
    for spec in a.expect_header:
        name, _, n = spec.partition("=")
        got = len(header_lines(final.raw, name))
        ck.ok(got == int(n), "final response has %s %s header field(s) (got %d)" % (n, name, got),
              final.summary())
    for spec in a.expect_header_re:
        name, _, rx = spec.partition("=")
        vals = [line.partition(":")[2] for line in header_lines(final.raw, name)]
        ck.ok(any(re.search(rx, v, re.I) for v in vals), "final response %s matches /%s/ (got %r)"
              % (name, rx, vals), final.summary())
    if a.cancel_after_ringing:
        ck.ok(cancel_sent, "a 18x came, so the CANCEL was sent", detail)
        if cancel_sent:
            ck.ok(cancel_resp is not None and cancel_resp.status == 200,
                  "the CANCEL got 200 (got %s)" % (cancel_resp and cancel_resp.start_line), detail)
    if a.expect_2xx_copies is not None:
        ck.ok(copies_2xx >= a.expect_2xx_copies, "at least %d copies of the 2xx arrived (got %d)"
              % (a.expect_2xx_copies, copies_2xx), detail)
    if a.expect_2xx is not None:
        ck.ok(len(dialogs) == a.expect_2xx, "%d distinct 2xx (dialogs) forwarded (got %d: %s)"
              % (a.expect_2xx, len(dialogs), ", ".join(dialogs)), detail)

    # tear down every dialog along its route set
    cseq = 2
    for tag, dg in dialogs.items():
        if not dg["target"]:
            continue
        first = dg["route"][0] if dg["route"] else None
        if first:
            h, p = hostport_of_uri(first.strip().strip("<").split(">")[0])
            ck.ok((h, p) == (a.host, a.port), "the route set starts at the proxy (%s)" % first,
                  dg["resp"].summary())
        bye = c.request("BYE", cseq, ruri=dg["target"], to=dg["resp"].get("to"),
                        routes=dg["route"])
        br = via_branch(Message(bye).get("via"))
        d.send(bye)
        c.note(">> BYE %s" % dg["target"])
        got, t_end, iv, nx = None, time.monotonic() + 8, T1, time.monotonic() + T1
        while time.monotonic() < t_end and got is None:
            m = d.recv(0.1)
            if m is None:
                if d.transport == "udp" and time.monotonic() >= nx:
                    d.send(bye)
                    iv = min(iv * 2, 4.0)
                    nx = time.monotonic() + iv
                continue
            if m.status is None:
                if request_method(m) != "ACK":
                    d.send(reply(m, 200, "OK"))
                continue
            if cseq_method(m) == "INVITE" and m.status // 100 == 2:
                # a retransmitted 2xx: the same ACK again
                odg = dialogs.get(m.to_tag())
                if odg and "ack" in odg:
                    d.send(odg["ack"])
                continue
            if via_branch(m.get("via")) == br and m.status >= 200:
                got = m
        c.note("<< %s (BYE)" % (got.start_line if got else "nothing"))
        ck.ok(got is not None and got.status == 200, "BYE for dialog %s got 200 through the proxy"
              % tag, c.report())
        cseq += 1
    d.close()
    ck.done()


if __name__ == "__main__":
    main()
