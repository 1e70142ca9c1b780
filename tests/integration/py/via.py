#!/usr/bin/env python3
"""via.py - the server stamps the top Via of each response per RFC 3261 §18.2.1 and RFC 3581 and
sends the response where those rules say.

    via.py TRANSPORT HOST PORT

UDP:
  1. Via sent-by 127.0.0.1:<a port nobody uses>;rport from socket P -> the response comes back to
     P (the source port, RFC 3581 §4) with ;rport=P;received=127.0.0.1.
  2. Via sent-by 127.0.0.1:P;rport (sent-by equals the source) -> rport=P and received=127.0.0.1
     are still filled in (RFC 3581 §4: received MUST be added when rport is present).
  3. Via sent-by 192.0.2.7:Q without rport -> the response has ;received=127.0.0.1 (the host differs,
     RFC 3261 §18.2.1) and no rport value, and goes to received:sent-by-port = 127.0.0.1:Q
     (RFC 3261 §18.2.2); a server answering the source port instead is reported, not failed.
  4. A second Via (an upstream hop) is returned untouched, after the first.
TCP: Via sent-by 127.0.0.1:9;rport -> the response arrives on the client's own connection with
     ;rport=<client port>;received=127.0.0.1.
"""

import os
import re
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Conn, Message, new_branch, show  # noqa: E402


def via_params(v):
    params = {}
    for p in v.split(";")[1:]:
        k, eq, val = p.strip().partition("=")
        params[k.lower()] = val if eq else None
    return params


def free_udp_socket(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    return s


def main(transport, host, port):
    ck = Checker("via/%s" % transport)
    c = Conn(transport, host, port)
    T = transport.upper()

    if transport == "udp":
        # a port that is certainly not ours: bind one, note it, close it
        s = free_udp_socket(host)
        dead_port = s.getsockname()[1]
        s.close()

        # 1. rport requested, sent-by port is wrong -> answer to the source port
        via = "SIP/2.0/UDP 127.0.0.1:%d;rport;branch=%s" % (dead_port, new_branch())
        req = c.request("OPTIONS", via=via)
        r = c.transact(req)
        ok = ck.ok(r is not None, "rport: the response came back to the source port %d, not the "
                   "Via port %d" % (c.local_port, dead_port), show(req, r))
        if ok:
            p = via_params(r.get("via"))
            ck.ok(p.get("rport") == str(c.local_port), "rport: ;rport=%d filled in (got %r)"
                  % (c.local_port, p.get("rport")), show(req, r))
            ck.ok(p.get("received") == "127.0.0.1", "rport: ;received=127.0.0.1 added (got %r)"
                  % p.get("received"), show(req, r))

        # 2. rport requested, sent-by equals the source -> still rport=P and received
        via = "SIP/2.0/UDP 127.0.0.1:%d;rport;branch=%s" % (c.local_port, new_branch())
        req = c.request("OPTIONS", via=via)
        r = c.transact(req)
        if ck.ok(r is not None, "rport with matching sent-by: answered", show(req, r)):
            p = via_params(r.get("via"))
            ck.ok(p.get("rport") == str(c.local_port), "rport with matching sent-by: ;rport=%d"
                  % c.local_port, show(req, r))
            ck.ok(p.get("received") == "127.0.0.1",
                  "rport with matching sent-by: ;received=127.0.0.1 (RFC 3581 §4)", show(req, r))

        # 3. no rport, sent-by host differs -> received added; goes to received:sent-by port
        q = free_udp_socket(host)
        q.settimeout(2.0)
        qport = q.getsockname()[1]
        via = "SIP/2.0/UDP 192.0.2.7:%d;branch=%s" % (qport, new_branch())
        req = c.request("OPTIONS", via=via)
        c.send(req)
        r, where = None, None
        try:
            r, where = Message(q.recv(70000)), "received:sent-by-port"
        except socket.timeout:
            r = c.recv(timeout=0.5)
            where = "source port" if r is not None else None
        q.close()
        if ck.ok(r is not None, "no rport, foreign sent-by: answered (at %s)" % where, show(req, r)):
            p = via_params(r.get("via"))
            ck.ok(p.get("received") == "127.0.0.1",
                  "no rport, foreign sent-by: ;received=127.0.0.1 added (got %r)" % p.get("received"),
                  show(req, r))
            ck.ok("rport" not in p, "no rport requested: none added", show(req, r))
            if where != "received:sent-by-port":
                print("NOTE: answer went to the source port, RFC 3261 §18.2.2 says 127.0.0.1:%d"
                      % qport)

    else:
        # TCP: bogus sent-by port, rport -> answer on this connection, rport/received filled
        via = "SIP/2.0/TCP 127.0.0.1:9;rport;branch=%s" % new_branch()
        req = c.request("OPTIONS", via=via)
        r = c.transact(req)
        if ck.ok(r is not None, "TCP: the response came back on the client's own connection",
                 show(req, r)):
            p = via_params(r.get("via"))
            ck.ok(p.get("rport") == str(c.local_port), "TCP: ;rport=%d (got %r)"
                  % (c.local_port, p.get("rport")), show(req, r))
            ck.ok(p.get("received") == "127.0.0.1", "TCP: ;received=127.0.0.1 (got %r)"
                  % p.get("received"), show(req, r))

    # 4. a second Via is returned untouched, in order
    upstream = "SIP/2.0/%s 198.51.100.1:5060;branch=z9hG4bK-upstream-1;received=198.51.100.99" % T
    req = c.request("OPTIONS").replace(b"\r\nMax-Forwards:", ("\r\nVia: %s\r\nMax-Forwards:"
                                                               % upstream).encode(), 1)
    r = c.transact(req)
    if ck.ok(r is not None and r.status == 200, "two Vias: answered 200", show(req, r)):
        vias = r.get_all("via")
        ck.ok(len(vias) == 2 and vias[1] == upstream,
              "two Vias: both returned, the second one byte-for-byte", show(req, r))
        ck.ok(re.search(r"branch=z9hG4bK-it-", vias[0]) is not None,
              "two Vias: the first one is ours (branch kept)", show(req, r))
    c.close()
    ck.done()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
