#!/usr/bin/env python3
"""tcp_framing.py - SIP over TCP is a byte stream framed by Content-Length (RFC 3261 §18.3);
keep-alives are CRLFCRLF answered by CRLF (RFC 5626 §3.5.1); responses go back over the
connection the request came on.

    tcp_framing.py HOST PORT

  1. coalesced: two OPTIONS and a REGISTER in one write -> three responses, in order, matching
     the requests' CSeq/Call-ID.
  2. dribbled: one REGISTER written 3 bytes at a time (TCP_NODELAY, small pauses) -> one 200.
  3. split at the worst places: inside the CRLFCRLF, and between headers and a body
     (OPTIONS with a 26-byte body) -> 200 each, nothing else.
  4. one and a half messages in one write, the rest later -> two responses.
  5. keep-alive: CRLFCRLF -> exactly one CRLF back, nothing more; the connection still works;
     a keep-alive right after a request on the same write still gets its CRLF.
  6. own connection: two connections interleave requests; each gets only its own responses,
     even though the Via sent-by names a port nobody listens on.
  7. a message larger than transport.max_message_bytes (65536 in this test) is refused (413/400 or
     the connection is closed), and the server stays up.
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Conn, new_call_id, ping, show  # noqa: E402


def tcp(host, port):
    c = Conn("tcp", host, port)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def main(host, port):
    ck = Checker("tcp_framing")
    user = "tcpf%d" % os.getpid()

    # 1. coalesced
    c = tcp(host, port)
    cid = [new_call_id() for _ in range(3)]
    reqs = [c.request("OPTIONS", user=user, call_id=cid[0], cseq=11),
            c.request("OPTIONS", user=user, call_id=cid[1], cseq=12),
            c.request("REGISTER", user=user, call_id=cid[2], cseq=13, headers=[
                "Contact: <sip:c1@%s:%d;transport=tcp>" % (c.via_host, c.local_port),
                "Expires: 3600"])]
    c.send(b"".join(reqs))
    got = [c.recv(timeout=3) for _ in range(3)]
    for i, r in enumerate(got):
        ok = (r is not None and r.status == 200 and r.get("call-id") == cid[i]
              and (r.get("cseq") or "").split()[:1] == [str(11 + i)])
        ck.ok(ok, "coalesced: response %d of 3 is the 200 for request %d" % (i + 1, i + 1),
              show(reqs[i], r))
    c.close()

    # 2. dribbled 3 bytes at a time
    c = tcp(host, port)
    req = c.request("REGISTER", user=user, cseq=1, headers=[
        "Contact: <sip:c2@%s:%d;transport=tcp>" % (c.via_host, c.local_port), "Expires: 3600"])
    for i in range(0, len(req), 3):
        c.send(req[i:i + 3])
        time.sleep(0.001)
    r = c.recv(timeout=3)
    ck.ok(r is not None and r.status == 200, "dribbled: REGISTER sent 3 bytes at a time -> 200",
          show(req, r))
    extra = c.recv(timeout=0.3)
    ck.ok(extra is None, "dribbled: exactly one response", extra.summary() if extra else None)
    c.close()

    # 3. split inside CRLFCRLF, and between headers and body
    c = tcp(host, port)
    body = b"abcdefghijklmnopqrstuvwxyz"
    req = c.request("OPTIONS", user=user, headers=["Content-Type: text/plain"], body=body)
    end = req.index(b"\r\n\r\n")
    c.send(req[:end + 3])               # "...\r\n\r" - the blank line not yet complete
    time.sleep(0.15)
    early = c.recv(timeout=0.2)
    ck.ok(early is None, "split CRLFCRLF: nothing answered before the message is complete",
          early.summary() if early else None)
    c.send(req[end + 3:end + 4])        # "\n": headers complete, body still missing
    time.sleep(0.15)
    early = c.recv(timeout=0.2)
    ck.ok(early is None, "split body: nothing answered before the body's %d bytes arrive" % len(body),
          early.summary() if early else None)
    c.send(req[end + 4:end + 10])
    time.sleep(0.1)
    c.send(req[end + 10:])
    r = c.recv(timeout=3)
    ck.ok(r is not None and r.status == 200, "split CRLFCRLF + body: OPTIONS with body -> 200",
          show(req, r))
    c.close()

    # 4. one and a half messages
    c = tcp(host, port)
    a = c.request("OPTIONS", user=user, cseq=21)
    b = c.request("OPTIONS", user=user, cseq=22)
    half = len(b) // 2
    c.send(a + b[:half])
    r1 = c.recv(timeout=3)
    ck.ok(r1 is not None and r1.status == 200 and r1.get("cseq").startswith("21"),
          "1.5 messages: the complete one answered at once", show(a, r1))
    c.send(b[half:])
    r2 = c.recv(timeout=3)
    ck.ok(r2 is not None and r2.status == 200 and r2.get("cseq").startswith("22"),
          "1.5 messages: the second answered when its rest arrives", show(b, r2))
    c.close()

    # 5. keep-alive
    c = tcp(host, port)
    c.send(b"\r\n\r\n")
    pong = c.recv_raw(timeout=2)
    ck.ok(pong == b"\r\n", "keep-alive: CRLFCRLF -> exactly one CRLF (got %r)" % pong)
    more = c.recv_raw(timeout=0.3)
    ck.ok(more == b"", "keep-alive: nothing else follows (got %r)" % more[:80])
    req = c.request("OPTIONS", user=user)
    r = c.transact(req)
    ck.ok(r is not None and r.status == 200, "keep-alive: the connection still carries requests",
          show(req, r))
    c.send(b"\r\n\r\n")
    c.send(b"\r\n\r\n")
    got = b""
    deadline = time.monotonic() + 2
    while len(got) < 4 and time.monotonic() < deadline:
        got += c.recv_raw(timeout=max(0.05, deadline - time.monotonic()))
    ck.ok(got == b"\r\n\r\n", "keep-alive: two pings -> two CRLFs (got %r)" % got)
    req = c.request("OPTIONS", user=user, cseq=31)
    c.send(req + b"\r\n\r\n")
    r = c.recv(timeout=3)
    ck.ok(r is not None and r.status == 200, "request + ping in one write: the request answered",
          show(req, r))
    rest, c.buf = c.buf, b""
    if len(rest) < 2:
        rest += c.recv_raw(timeout=1)
    rest += c.recv_raw(timeout=0.3)
    ck.ok(rest == b"\r\n", "request + ping in one write: then exactly one CRLF (got %r)" % rest[:80])
    c.close()

    # 6. own connection, Via port unreachable
    ca, cb = tcp(host, port), tcp(host, port)
    for i in range(3):
        for name, c in (("A", ca), ("B", cb)):
            via = "SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-own-%s-%d-%d" % (name, i, os.getpid())
            c.send(c.request("OPTIONS", user=user, via=via, call_id="own-%s-%d@%d" % (name, i, os.getpid())))
    for name, c in (("A", ca), ("B", cb)):
        ids = []
        for _ in range(3):
            r = c.recv(timeout=3)
            ids.append(r.get("call-id") if r is not None else None)
        want = ["own-%s-%d@%d" % (name, i, os.getpid()) for i in range(3)]
        ck.ok(ids == want, "own connection: %s got exactly its own 3 responses (got %s)" % (name, ids))
    ca.close()
    cb.close()

    # 7. a message bigger than max_message_bytes
    c = tcp(host, port)
    big = c.request("OPTIONS", user=user, headers=["Content-Type: text/plain"], body=b"x" * 70000)
    r = None
    closed = False
    try:
        c.send(big)
        r = c.recv(timeout=3)
        if r is None:
            closed = c.is_closed(timeout=0.5)
    except (OSError, ValueError):
        closed = True
    ck.ok((r is not None and r.status in (413, 400, 513)) or (r is None and closed),
          "70 KB message (> 65536): refused with 413/400 or the connection closed "
          "(got %s)" % (r.start_line if r is not None else "closed" if closed else "nothing"))
    c.close()
    ck.ok(ping("tcp", host, port), "server still answers over TCP afterwards")
    ck.ok(ping("udp", host, port), "server still answers over UDP afterwards")
    ck.done()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
