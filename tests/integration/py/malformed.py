#!/usr/bin/env python3
"""malformed.py - malformed requests get 400 with a reason phrase that names the problem, and no
input, however broken, stops the server (STYLE.md: network input never asserts).

    malformed.py TRANSPORT HOST PORT

Part 1 (strict): a REGISTER missing one mandatory header (RFC 3261 §8.1.1) - Call-ID, CSeq,
From, To, Via, Max-Forwards - gets 400 whose reason phrase names that header.
Part 2 (strict): other broken requests that RFC 3261 says are 400: CSeq number not a number,
CSeq method not the request's method, (UDP) a body shorter than Content-Length (§18.3: "the
element SHOULD generate a 400").
Part 3 (robustness): garbage - binary bytes, a lone request line, a header without colon,
negative/non-numeric Content-Length, NUL bytes, a stray response... Any answer must be an error
(>= 400); silence is fine; the server must answer an OPTIONS afterwards. Big but valid messages
(a 60 KB header, 10000 headers) may get any answer; the server must stay up.
Every case uses a fresh socket/connection (a server may close a TCP connection after garbage).
"""

import os
import re
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Conn, ping, show  # noqa: E402

# how each header must show up in the reason phrase (case-insensitive)
NAMES = {
    "call-id": r"call-?id",
    "cseq": r"cseq",
    "from": r"\bfrom\b",
    "to": r"\bto\b",
    "via": r"\bvia\b",
    "max-forwards": r"max-?forwards",
}


def one(transport, host, port, data, timeout=1.5):
    """Send data on a fresh socket; return (first final response or None, note)."""
    c = Conn(transport, host, port)
    try:
        c.send(data)
        try:
            return c.recv(timeout=timeout), ""
        except (ValueError, OSError) as e:          # unparseable answer or reset
            return None, "recv: %s" % e
    finally:
        c.close()


def main(transport, host, port):
    ck = Checker("malformed/%s" % transport)
    probe = Conn(transport, host, port)      # used only to build requests with the right Via
    user = "bad%d" % os.getpid()

    def register(**kw):
        return probe.request("REGISTER", user=user, headers=[
            "Contact: <sip:c1@%s:%d>" % (probe.via_host, probe.local_port), "Expires: 3600"], **kw)

    # --- part 1: a mandatory header missing -> 400 naming it
    for hdr, rx in NAMES.items():
        req = register(omit=(hdr,))
        r, note = one(transport, host, port, req)
        ok = r is not None and r.status == 400
        ck.ok(ok, "REGISTER without %s -> 400" % hdr, show(req, r) + note)
        if ok:
            ck.ok(re.search(rx, r.reason or "", re.I) is not None,
                  "the 400's reason phrase names %s (got %r)" % (hdr, r.reason), show(req, r))
        ck.ok(ping(transport, host, port), "server answers OPTIONS after the missing-%s request" % hdr)

    # --- part 2: other requests RFC 3261 answers with 400
    cases = [
        ("CSeq number not a number", register().replace(b"CSeq: 1 REGISTER", b"CSeq: one REGISTER")),
        ("CSeq method differs from the request method",
         register().replace(b"CSeq: 1 REGISTER", b"CSeq: 1 INVITE")),
    ]
    if transport == "udp":
        cases.append(("UDP body shorter than Content-Length (RFC 3261 §18.3)",
                      probe.request("OPTIONS", user=user).replace(
                          b"Content-Length: 0", b"Content-Length: 50") + b"only-20-bytes-here..."))
    for what, req in cases:
        r, note = one(transport, host, port, req)
        ck.ok(r is not None and r.status == 400, "%s -> 400" % what, show(req, r) + note)
        ck.ok(ping(transport, host, port), "server answers OPTIONS after: %s" % what)

    # --- part 3: garbage; no crash, any answer is an error response
    def good():
        """A fresh valid OPTIONS (new branch and Call-ID: never a retransmission of another)."""
        return probe.request("OPTIONS", user=user)

    def hdr_line(msg, name):
        i = msg.index(name)
        return msg[i:msg.index(b"\r\n", i)]

    garbage = [
        ("request line without SIP version", good().replace(b" SIP/2.0\r\n", b"\r\n", 1)),
        ("binary bytes", bytes(range(256)) * 4),
        ("NUL bytes only", b"\x00" * 512),
        ("a lone request line", b"REGISTER sip:example.com SIP/2.0\r\n\r\n"),
        ("start line only, no CRLFs", b"OPTIONS sip:example.com SIP/2.0"),
        ("header without colon", good().replace(b"Max-Forwards: 70", b"Max-Forwards 70")),
        ("negative Content-Length", good().replace(b"Content-Length: 0", b"Content-Length: -5")),
        ("non-numeric Content-Length", good().replace(b"Content-Length: 0", b"Content-Length: lots")),
        ("huge Content-Length", good().replace(b"Content-Length: 0", b"Content-Length: 99999999999999999999")),
        ("NUL inside a header", good().replace(b"Max-Forwards: 70", b"Max-Forwards: 7\x000")),
        ("unknown SIP version", good().replace(b" SIP/2.0\r\n", b" SIP/7.3\r\n", 1)),
        ("empty Via", (lambda m: m.replace(hdr_line(m, b"Via:"), b"Via: "))(good())),
        ("Via without branch or host",
         (lambda m: m.replace(hdr_line(m, b"Via:"), b"Via: SIP/2.0/UDP"))(good())),
        ("To without URI", (lambda m: m.replace(hdr_line(m, b"To:"), b"To: <>"))(good())),
        ("From with an unclosed <", good().replace(b"From: <sip:", b"From: <<<sip:")),
        ("request URI not a URI", good().replace(b"OPTIONS sip:example.com", b"OPTIONS %%%%")),
        ("stray response", b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\n"
                           b"From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\n"
                           b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"),
        ("response with nonsense status", b"SIP/2.0 abc\r\n\r\n"),
    ]
    if transport == "tcp":
        garbage.append(("headers that never end", b"OPTIONS sip:example.com SIP/2.0\r\nVia: x\r\n"))
    for what, data in garbage:
        try:
            r, note = one(transport, host, port, data, timeout=0.7)
        except OSError as e:
            r, note = None, "send: %s" % e
        ck.ok(r is None or r.status is None or r.status >= 400,
              "garbage (%s): answered with an error or not at all" % what,
              show(data[:300], r) + note)
        ck.ok(ping(transport, host, port), "server answers OPTIONS after garbage (%s)" % what)

    # big but valid (under transport.max_message_bytes = 65536): any answer, server stays up
    big = [
        ("a 60 KB header", good().replace(b"Max-Forwards: 70",
                                        b"Max-Forwards: 70\r\nX-Big: " + b"a" * 60000)),
        ("ten thousand tiny headers", good().replace(b"Max-Forwards: 70",
                                                   b"Max-Forwards: 70" + b"\r\nX: y" * 10000)),
    ]
    for what, data in big:
        try:
            r, note = one(transport, host, port, data, timeout=1.5)
        except OSError as e:
            r, note = None, "send: %s" % e
        print("NOTE: %s -> %s %s" % (what, r.start_line if r is not None else "no answer", note))
        ck.ok(ping(transport, host, port), "server answers OPTIONS after %s" % what)

    # the server survived all of it and still registers
    req = register()
    r, note = one(transport, host, port, req)
    ck.ok(r is not None and r.status == 200, "a good REGISTER after all that -> 200", show(req, r))
    probe.close()
    ck.done()


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    except socket.error as e:
        print("FAIL: malformed: socket error %s" % e)
        sys.exit(1)
