#!/usr/bin/env python3
"""proxy_device.py - a callee-side element for the proxy tests, where SIPp cannot express it.

    proxy_device.py MODE TR HOST PORT [options]

MODE
  silent   REGISTER --user@--domain from this socket, then never answer anything: counts the
           INVITE copies that arrive (UDP: the proxy's Timer A retransmissions, with growing
           intervals; TCP: exactly one), and any CANCEL.
  answer   REGISTER, then answer an INVITE with 200 after --answer-delay seconds WITHOUT any
           provisional (so the proxy cannot CANCEL it first, RFC 3261 §9.1); the 200 is
           retransmitted on UDP until the ACK; a BYE gets 200; a CANCEL before the answer gets
           200 + 487.
  ring     REGISTER, then answer an INVITE with 180 after --ring-delay seconds (never 200); a
           CANCEL gets 200 and the INVITE 487 (after the 180 or not).
  reject-top-via  REGISTER, then answer an INVITE with 486 that carries ONLY the top Via (the
           proxy's) - a broken callee. A proxy left with no Via after removing its own must not
           forward that response (RFC 3261 §16.7 step 3).
  reflect  no REGISTER: bound to --bind-port, it acts as a (misconfigured) stateless proxy whose
           only route is back to the server: every request gets its own Via on top and
           Max-Forwards - 1 and goes back to HOST:PORT; every response loses its top Via (ours)
           and goes back to HOST:PORT too. A request that comes back to the server unchanged
           is a loop (RFC 3261 §16.3 item 4).
Options: --user U --domain D --q Q --expires N (REGISTER), --duration S (how long to run),
  --answer-delay S, --resend-200 N (answer mode: send the 200 N more times, 0.3 s apart, even
  after the ACK - what a callee does when the ACK is lost, RFC 3261 §13.3.1.4), --bind-port P, --contact-host H:P (Contact to register instead of this
  socket's own address: a third-party registration), --ready-file F (touched once registered),
  and the checks at the end:
  --expect-invites MIN:MAX   distinct INVITE copies received (retransmissions counted)
  --expect-cancel N          CANCEL requests received
  --expect-ack N             ACKs received: at least N, and not more than the 200s we sent (each
                             copy of a 2xx may be ACKed again)
  --expect-bye N             BYEs received
  --expect-nothing           no request at all may arrive (e.g. the INVITE must go elsewhere)
Exit 0 when every check passed.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import (Checker, Conn, new_tag, register, reply, request_method, SDP, T1,
                       via_branch)  # noqa: E402


def run_reflect(a, dev, ck, note):
    server = (a.host, a.port)
    end = time.monotonic() + a.duration
    n_req = 0
    while time.monotonic() < end:
        m = dev.recv(0.2)
        if m is None:
            continue
        if m.status is None:
            n_req += 1
            meth = request_method(m)
            note("<< %s (from the server) -> back to the server" % meth)
            br = "z9hG4bK-refl-%08x" % (hash(via_branch(m.get("via"))) & 0xffffffff)
            head, _, body = m.raw.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            out = [lines[0], "Via: SIP/2.0/UDP %s:%d;branch=%s" % (dev.local_ip, dev.local_port, br)]
            for line in lines[1:]:
                n, _, v = line.partition(":")
                if n.strip().lower() == "max-forwards":
                    line = "Max-Forwards: %d" % (int(v.strip()) - 1)
                out.append(line)
            dev.send(("\r\n".join(out) + "\r\n\r\n").encode() + body, to=server)
        else:
            note("<< %d %s -> top Via removed, to the server" % (m.status, m.reason))
            head, _, body = m.raw.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            out, popped = [], False
            for line in lines:
                n, _, v = line.partition(":")
                if not popped and n.strip().lower() in ("via", "v") and "z9hG4bK-refl-" in v:
                    popped = True
                    continue
                out.append(line)
            dev.send(("\r\n".join(out) + "\r\n\r\n").encode() + body, to=server)
    ck.ok(n_req >= 1, "the reflector got the proxied request (%d request(s))" % n_req)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["silent", "answer", "ring", "reject-top-via", "reflect"])
    ap.add_argument("--ring-delay", type=float, default=0.0)
    ap.add_argument("transport")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--user")
    ap.add_argument("--domain", default="example.com")
    ap.add_argument("--q")
    ap.add_argument("--expires", type=int, default=120)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--answer-delay", type=float, default=0.0)
    ap.add_argument("--resend-200", type=int, default=0)
    ap.add_argument("--bind-port", type=int, default=0)
    ap.add_argument("--contact-host")
    ap.add_argument("--ready-file")
    ap.add_argument("--expect-invites")
    ap.add_argument("--expect-cancel", type=int)
    ap.add_argument("--expect-ack", type=int)
    ap.add_argument("--expect-bye", type=int)
    ap.add_argument("--expect-nothing", action="store_true")
    ap.add_argument("--name")
    a = ap.parse_args()

    ck = Checker(a.name or "%s/%s" % (a.mode, a.transport))
    dev = Conn(a.transport, a.host, a.port, bind_port=a.bind_port, endpoint=True)
    t0 = time.monotonic()
    events = []

    def note(text):
        events.append("%7.3fs %s" % (time.monotonic() - t0, text))

    if a.mode == "reflect":
        if a.ready_file:
            open(a.ready_file, "w").close()
        run_reflect(a, dev, ck, note)
        print("\n".join(events))
        ck.done()

    hp = a.contact_host or "%s:%d" % (dev.local_ip, dev.local_port)
    contact = "<sip:%s@%s;transport=%s>" % (a.user, hp, a.transport)
    if a.q:
        contact += ";q=%s" % a.q
    r = register(dev, a.user, a.domain, [contact], a.expires)
    if not ck.ok(r is not None and r.status == 200, "REGISTER %s -> 200 (got %s)"
                 % (contact, r and r.start_line)):
        ck.done()
    note("registered %s" % contact)
    if a.ready_file:
        open(a.ready_file, "w").close()

    invites, cancels, acks, byes, requests = [], 0, 0, 0, 0
    sent_200 = 0
    to_tag = new_tag()
    answered = None           # the 200 we sent (bytes) until its ACK
    invite = None
    answer_at = None
    retx_at, retx_iv = None, T1
    forced, forced_at = a.resend_200, None
    ring_at = None
    end = t0 + a.duration
    while time.monotonic() < end:
        m = dev.recv(0.05)
        now = time.monotonic()
        if a.mode == "answer" and invite is not None and answered is None and answer_at \
                and now >= answer_at:
            answered = reply(invite, 200, "OK", to_tag=to_tag, body=SDP,
                             contact="<sip:%s@%s:%d;transport=%s>" % (
                                 a.user, dev.local_ip, dev.local_port, a.transport))
            dev.send(answered)
            sent_200 += 1
            note(">> 200 OK")
            retx_at, retx_iv = now + T1, T1
            forced_at = now + 0.3
        if a.mode == "ring" and ring_at and now >= ring_at:
            dev.send(reply(invite, 180, "Ringing", to_tag=to_tag,
                           contact="<sip:%s@%s:%d;transport=%s>" % (
                               a.user, dev.local_ip, dev.local_port, a.transport)))
            note(">> 180 Ringing")
            ring_at = None
        if answered is not None and forced > 0 and forced_at and now >= forced_at:
            dev.send(answered)
            sent_200 += 1
            forced -= 1
            forced_at = now + 0.3
            note(">> 200 OK (sent again on purpose, %d more)" % forced)
        if answered is not None and retx_at and now >= retx_at and a.transport == "udp":
            dev.send(answered)
            sent_200 += 1
            note(">> 200 OK (retransmission, no ACK yet)")
            retx_iv = min(retx_iv * 2, 4.0)
            retx_at = now + retx_iv
        if m is None:
            continue
        if m.status is not None:
            note("<< %d %s (ignored)" % (m.status, m.reason))
            continue
        requests += 1
        meth = request_method(m)
        note("<< %s %s (Via branch %s)" % (meth, m.start_line.split(" ")[1],
                                            via_branch(m.get("via"))))
        if meth == "INVITE":
            invites.append(now - t0)
            if a.mode == "reject-top-via":
                bad = reply(m, 486, "Busy Here", to_tag=to_tag)
                head, _, rest = bad.partition(b"\r\n\r\n")
                lines, seen_via = [], False
                for line in head.split(b"\r\n"):
                    if line.lower().startswith((b"via:", b"v:")):
                        if seen_via:
                            continue
                        seen_via = True
                        line = line.split(b",")[0]
                    lines.append(line)
                dev.send(b"\r\n".join(lines) + b"\r\n\r\n" + rest)
                note(">> 486 with only the top Via")
            if a.mode == "answer":
                if invite is None:
                    invite = m
                    answer_at = now + a.answer_delay
                elif answered is not None:
                    dev.send(answered)
                    sent_200 += 1
                    note(">> 200 OK (again, for the retransmitted INVITE)")
            elif a.mode == "ring" and invite is None:
                invite = m
                ring_at = now + a.ring_delay
        elif meth == "CANCEL":
            cancels += 1
            if a.mode in ("answer", "ring"):
                dev.send(reply(m, 200, "OK"))
                if answered is None and invite is not None:
                    dev.send(reply(invite, 487, "Request Terminated", to_tag=to_tag))
                    note(">> 200 (CANCEL), 487 (INVITE)")
                    answer_at = ring_at = None
        elif meth == "ACK":
            acks += 1
            retx_at = None
        elif meth == "BYE":
            byes += 1
            dev.send(reply(m, 200, "OK"))
        elif a.mode == "answer":
            dev.send(reply(m, 200, "OK"))

    detail = "\n".join(events)
    print(detail)
    if a.expect_invites:
        lo, _, hi = a.expect_invites.partition(":")
        lo, hi = int(lo), int(hi or lo)
        ck.ok(lo <= len(invites) <= hi, "INVITE copies received: %d..%d (got %d at %s)"
              % (lo, hi, len(invites), ", ".join("%.2f" % t for t in invites)), detail)
        if a.transport == "udp" and len(invites) >= 3:
            gaps = [b - c for b, c in zip(invites[1:], invites)]
            ok = all(g2 >= g1 * 1.4 for g1, g2 in zip(gaps, gaps[1:]))
            ck.ok(ok, "INVITE retransmission intervals double (Timer A): %s"
                  % ", ".join("%.3f" % g for g in gaps), detail)
    if a.expect_cancel is not None:
        ck.ok(cancels == a.expect_cancel, "CANCEL received %d time(s) (got %d)"
              % (a.expect_cancel, cancels), detail)
    if a.expect_ack is not None:
        ok = a.expect_ack <= acks <= max(a.expect_ack, sent_200)
        ck.ok(ok, "ACK received %d time(s), at most once per 200 sent (got %d for %d 200s)"
              % (a.expect_ack, acks, sent_200), detail)
    if a.expect_bye is not None:
        ck.ok(byes == a.expect_bye, "BYE received %d time(s) (got %d)" % (a.expect_bye, byes),
              detail)
    if a.expect_nothing:
        ck.ok(requests == 0, "no request reached this socket (got %d)" % requests, detail)
    dev.close()
    ck.done()


if __name__ == "__main__":
    main()
