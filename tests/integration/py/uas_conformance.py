#!/usr/bin/env python3
"""uas_conformance.py - where sipd itself is the UAS (RFC 3261 §8.2), the request checks a proxy
makes (§16.3) and Route pre-processing (§16.4), and the SIP-Version token's case (§7.1).

    uas_conformance.py TRANSPORT HOST PORT [methods]

With "methods" only the §8.2.1 rules run (a node without the proxy role: registrar only).

Each rule is one request of our own on a fresh socket and the exact status (and header) it must
get back:
  §7.1   "sip/2.0" in the request line is SIP/2.0: OPTIONS to the server gets 200; "SIP/3.0" 505
  §8.2.1 a method sipd knows but does not take at the server's own URI (INFO, no user) gets 405
         with Allow; an unknown method addressed to the server gets 501
  §8.2.2.2 a REGISTER, a MESSAGE to a topic and an OPTIONS to the server sent twice, the second
         copy from another socket with another branch (a fork upstream that came back by a second
         path) and the same From tag, Call-ID and CSeq: the first is answered as usual, the
         second gets 482; the first re-sent with its own branch is still absorbed (its response
         re-sent, no 482)
  §8.2.2.3 Require with an option-tag sipd does not know, in a request sipd answers itself
         (OPTIONS to the server, REGISTER), gets 420 with Unsupported naming it; CANCEL and ACK
         are never answered 420
  §8.2.3 a body with a Content-Encoding sipd cannot decode gets 415 with Accept-Encoding; an IM
         publication of a Content-Type the broker does not take gets 415 with Accept
  §16.3  Max-Forwards 0 on a request to forward gets 483; OPTIONS with Max-Forwards 0 to the
         server itself is answered (200); Proxy-Require with an unknown tag gets 420 + Unsupported;
         a request carrying a Via of sipd's own whose branch holds the request's loop hash (it
         went around and came back unchanged) gets 482
  §16.4  a Route naming this server is consumed first: OPTIONS and REGISTER with
         Route: <sip:SERVER;lr> are answered by the server (200), as without it
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Conn, new_branch, new_call_id, new_tag, show  # noqa: E402


def send(transport, host, port, build, timeout=2.0):
    """build(conn) -> bytes; returns (request bytes, final response or None)."""
    c = Conn(transport, host, port)
    try:
        data = build(c)
        c.send(data)
        try:
            return data, c.recv(timeout=timeout)
        except (OSError, ValueError):
            return data, None
    finally:
        c.close()


def req(c, method, ruri, user="conf", version="SIP/2.0", extra=(), body=b"", mf=70, cseq_method=None):
    lines = ["%s %s %s" % (method, ruri, version),
             "Via: SIP/2.0/%s %s:%d;rport;branch=%s" % (c.T, c.via_host, c.local_port, new_branch()),
             "Max-Forwards: %d" % mf,
             "From: <sip:%s@example.com>;tag=%s" % (user, new_tag()),
             "To: <sip:%s@example.com>" % user,
             "Call-ID: %s" % new_call_id(),
             "CSeq: 1 %s" % (cseq_method or method)]
    lines += list(extra)
    if isinstance(body, str):
        body = body.encode()
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def loop_branch(ruri_user, ruri_host, from_tag, call_id, cseq):
    """The branch prefix sipd's proxy gives a request it forwards (roles/proxy/route.c,
    loop_hash: FNV-1a over Request-URI scheme, user, host, port, parameters; From tag, To tag,
    Call-ID, CSeq number, Proxy-Require, Proxy-Authorization response; each followed by '|')."""
    h = 2166136261

    def fnv(v):
        nonlocal h
        for ch in (v or "").encode():
            h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
        h = ((h ^ ord("|")) * 16777619) & 0xFFFFFFFF

    number, _, cid_host = call_id.partition("@")
    for v in ("sip", ruri_user, ruri_host, None, from_tag, None, number, cid_host or None,
              str(cseq), None, None):
        fnv(v)
    return "z9hG4bKsd%08x." % h


def main(transport, host, port, only=None):
    port = int(port)
    ck = Checker("uas/%s" % transport)
    me = "sip:%s:%d" % (host, port)
    user = "conf%d" % os.getpid()

    def expect(what, build, code, header=None, contains=None):
        data, r = send(transport, host, port, build)
        ok = r is not None and r.status == code
        if ok and header:
            v = r.get(header)
            ok = v is not None and (contains is None or contains.lower() in v.lower())
        ck.ok(ok, what, show(data, r))
        return r

    if only == "methods":
        expect("§8.2.1 INFO to the server itself gets 405 with Allow",
               lambda c: req(c, "INFO", me), 405, "Allow", "REGISTER")
        expect("§8.2.1 INVITE to a user gets 405 (no proxy role)",
               lambda c: req(c, "INVITE", "sip:bob@example.com"), 405, "Allow", "OPTIONS")
        expect("§8.2.1 unknown method gets 501", lambda c: req(c, "FROBNICATE", me), 501)
        ck.done()

    # §7.1
    expect("§7.1 'sip/2.0' request line: OPTIONS answered 200",
           lambda c: req(c, "OPTIONS", me, version="sip/2.0"), 200)
    expect("§7.1 'Sip/2.0' request line: REGISTER answered 200",
           lambda c: req(c, "REGISTER", "sip:example.com", user=user, version="Sip/2.0",
                         extra=["Contact: <sip:%s@%s:%d>" % (user, c.via_host, c.local_port),
                                "Expires: 60"]), 200)
    expect("§7.1 'SIP/3.0' gets 505", lambda c: req(c, "OPTIONS", me, version="SIP/3.0"), 505)

    # §8.2.1
    expect("§8.2.1 INFO to the server itself gets 405 with Allow",
           lambda c: req(c, "INFO", me), 405, "Allow", "OPTIONS")
    expect("§8.2.1 unknown method to the server gets 501",
           lambda c: req(c, "FROBNICATE", me), 501)

    # §8.2.2.2 merged requests
    def merged(what, method, ruri, extra, body=b""):
        first, second = Conn(transport, host, port), Conn(transport, host, port)
        try:
            tag, cid, b1 = new_tag(), new_call_id(), new_branch()
            one = first.request(method, ruri, user=user, call_id=cid, from_tag=tag, branch=b1,
                                headers=extra(first), body=body)
            r1 = first.transact(one)
            ck.ok(r1 is not None and 200 <= r1.status < 300, "§8.2.2.2 %s: first copy answered 2xx"
                  % what, show(one, r1))
            two = second.request(method, ruri, user=user, call_id=cid, from_tag=tag,
                                 headers=extra(second), body=body)
            r2 = second.transact(two)
            ck.ok(r2 is not None and r2.status == 482, "§8.2.2.2 %s: second copy by another branch "
                  "gets 482" % what, show(two, r2))
            r3 = first.transact(one)
            ck.ok(r3 is not None and r1 is not None and r3.status == r1.status,
                  "§8.2.2.2 %s: the first copy re-sent with its branch is absorbed (same %s)"
                  % (what, r1.status if r1 else "?"), show(one, r3))
        finally:
            first.close()
            second.close()

    merged("REGISTER", "REGISTER", "sip:example.com",
           lambda c: ["Contact: <sip:%s@%s:%d>" % (user, c.via_host, c.local_port), "Expires: 60"])
    merged("MESSAGE to a topic", "MESSAGE", "sip:%s@example.com" % user,
           lambda c: ["Content-Type: text/plain"], b"once")
    merged("OPTIONS to the server", "OPTIONS", me, lambda c: [])

    # §8.2.2.3
    expect("§8.2.2.3 OPTIONS to the server with Require: x-nope gets 420 + Unsupported",
           lambda c: req(c, "OPTIONS", me, extra=["Require: x-nope"]), 420, "Unsupported", "x-nope")
    expect("§8.2.2.3 REGISTER with Require: x-nope gets 420 + Unsupported",
           lambda c: req(c, "REGISTER", "sip:example.com", user=user, extra=[
               "Require: x-nope", "Contact: <sip:%s@%s:%d>" % (user, c.via_host, c.local_port)]),
           420, "Unsupported", "x-nope")
    data, r = send(transport, host, port, lambda c: req(c, "CANCEL", me, extra=["Require: x-nope"]))
    ck.ok(r is None or r.status != 420, "§8.2.2.3 CANCEL is never answered 420", show(data, r))

    # §8.2.3
    expect("§8.2.3 OPTIONS with Content-Encoding: x-zip body gets 415 + Accept-Encoding",
           lambda c: req(c, "OPTIONS", me, extra=["Content-Type: text/plain",
                                                  "Content-Encoding: x-zip"], body="zzz"),
           415, "Accept-Encoding", "identity")
    expect("§8.2.3 MESSAGE to a topic with Content-Encoding: x-zip gets 415 + Accept-Encoding",
           lambda c: req(c, "MESSAGE", "sip:%s@example.com" % user, extra=[
               "Content-Type: text/plain", "Content-Encoding: x-zip"], body="zzz"),
           415, "Accept-Encoding")
    expect("§8.2.3 PUBLISH Event: presence with a text/x-nope body gets 415 + Accept",
           lambda c: req(c, "PUBLISH", "sip:%s@example.com" % user, extra=[
               "Event: presence", "Expires: 60", "Content-Type: text/x-nope"], body="x"),
           415, "Accept")

    # §16.3
    expect("§16.3 INVITE to a user with Max-Forwards: 0 gets 483",
           lambda c: req(c, "INVITE", "sip:nobody%s@example.com" % user, mf=0), 483)
    expect("§16.3 OPTIONS to the server with Max-Forwards: 0 is answered 200",
           lambda c: req(c, "OPTIONS", me, mf=0), 200)
    expect("§16.3 Proxy-Require: x-nope gets 420 + Unsupported",
           lambda c: req(c, "INVITE", "sip:nobody%s@example.com" % user,
                         extra=["Proxy-Require: x-nope"]), 420, "Unsupported", "x-nope")

    def looped(c):
        tag, cid, user_l = new_tag(), new_call_id(), "loop%d" % os.getpid()
        return ("\r\n".join([
            "INVITE sip:%s@example.com SIP/2.0" % user_l,
            "Via: SIP/2.0/%s %s:%d;rport;branch=%s" % (c.T, c.via_host, c.local_port, new_branch()),
            "Via: SIP/2.0/%s %s:%d;branch=%s1" % (
                transport.upper(), host, port,
                loop_branch(user_l, "example.com", tag, cid, 1)),
            "Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-origin",
            "Max-Forwards: 68",
            "From: <sip:a@example.com>;tag=%s" % tag,
            "To: <sip:%s@example.com>" % user_l,
            "Call-ID: %s" % cid,
            "CSeq: 1 INVITE",
            "Content-Length: 0", "", ""])).encode()
    expect("§16.3 a request that comes back with sipd's own Via and loop hash gets 482", looped, 482)

    # §16.4
    expect("§16.4 OPTIONS with Route: <SERVER;lr> is answered by the server (200)",
           lambda c: req(c, "OPTIONS", me, extra=["Route: <%s;lr>" % me]), 200, "Allow")
    expect("§16.4 REGISTER with Route: <SERVER;lr> is answered by the registrar (200)",
           lambda c: req(c, "REGISTER", "sip:example.com", user=user, extra=[
               "Route: <%s;lr;transport=%s>" % (me, transport),
               "Contact: <sip:%s@%s:%d>" % (user, c.via_host, c.local_port), "Expires: 60"]), 200,
           "Contact")
    ck.done()


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.stderr.write(__doc__)
        sys.exit(2)
    main(*sys.argv[1:])
