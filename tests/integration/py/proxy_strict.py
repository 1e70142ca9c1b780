#!/usr/bin/env python3
"""proxy_strict.py - strict routing through the proxy (RFC 3261 §16.4, §16.6 step 6, §16.12.1.2).

    proxy_strict.py HOST PORT

A caller socket sends requests to the proxy at HOST:PORT; a "next hop" socket on another port (H)
plays the element after the proxy and answers 200. Each case sends a request shaped as a
strict-routing neighbour would and checks what reaches H: the Request-URI, the Route values in
order, Max-Forwards 69 and the proxy's Via on top. Cases (P = the proxy, UDP):

  next hop strict:   R-URI bob@example.net, Route <H> (no lr) -> H gets R-URI H,
                     Route <sip:bob@example.net> (the old R-URI goes last)
  ... behind ours:   Route <P;lr>, <H>                        -> the same (ours removed first)
  previous hop strict: R-URI P (our Record-Route), Route <bob@H> -> R-URI bob@H, no Route
  ... with a route:  R-URI P, Route <H;lr>, <carol@example.net> -> R-URI carol@example.net,
                     Route <H;lr>
  both:              R-URI P, Route <H>, <carol@example.net>   -> R-URI H,
                     Route <sip:carol@example.net>
MESSAGE (answered 200 by H, the 200 must reach the caller) and ACK (forwarded statelessly, as for
a 2xx) for each. The stateless ACK path undoes a strict previous hop but does not rewrite for a
strict next hop (it goes to H with its Request-URI and Route as they were, ours removed): only
that it reaches H is checked for those. Exit 0 when every check passed.
"""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import (build, Checker, Conn, new_branch, new_call_id, new_tag, reply,  # noqa: E402
                       request_method, request_uri)


def uri_of(value):
    """The URI inside a Route value, without <> (parameters inside the <> kept)."""
    m = re.search(r"<([^>]*)>", value)
    return (m.group(1) if m else value).strip()


def cases(p, h):
    # (name, Request-URI, Route values sent, Request-URI expected at H, Route URIs expected at H,
    #  the ACK arrives with the same edits)
    return [
        ("next hop strict", "sip:bob@example.net", ["<sip:%s>" % h],
         "sip:%s" % h, ["sip:bob@example.net"], False),
        ("next hop strict behind our own Route", "sip:bob@example.net",
         ["<sip:%s;lr>" % p, "<sip:%s>" % h],
         "sip:%s" % h, ["sip:bob@example.net"], False),
        ("previous hop strict", "sip:%s;lr" % p, ["<sip:bob@%s>" % h],
         "sip:bob@%s" % h, [], True),
        ("previous hop strict, a loose route left", "sip:%s;lr" % p,
         ["<sip:%s;lr>" % h, "<sip:carol@example.net>"],
         "sip:carol@example.net", ["sip:%s;lr" % h], True),
        ("previous and next hop strict", "sip:%s;lr" % p,
         ["<sip:%s>" % h, "<sip:carol@example.net>"],
         "sip:%s" % h, ["sip:carol@example.net"], False),
    ]


def request(dev, method, ruri, routes, call_id):
    lines = ["%s %s SIP/2.0" % (method, ruri),
             "Via: SIP/2.0/UDP %s:%d;rport;branch=%s" % (dev.local_ip, dev.local_port, new_branch())]
    lines += ["Route: %s" % r for r in routes]
    lines += ["Max-Forwards: 70",
              "From: <sip:alice@example.com>;tag=%s" % new_tag(),
              "To: <sip:bob@example.net>%s" % (";tag=callee" if method == "ACK" else ""),
              "Call-ID: %s" % call_id,
              "CSeq: 1 %s" % method]
    body = b"hello" if method == "MESSAGE" else b""
    if body:
        lines.append("Content-Type: text/plain")
    return build(lines, body)


def check_arrival(ck, name, m, method, want_ruri, want_routes, proxy):
    if not ck.ok(m is not None and request_method(m) == method, "%s: %s reached the next hop"
                 % (name, method)):
        return
    if want_ruri is None:
        return
    ck.ok(request_uri(m) == want_ruri, "%s: %s Request-URI %s" % (name, method, want_ruri),
          request_uri(m))
    got = [uri_of(v) for v in m.get_all("route")]
    ck.ok(got == want_routes, "%s: %s Route %s" % (name, method, want_routes), got)
    ck.ok((m.get("max-forwards") or "").strip() == "69", "%s: %s Max-Forwards 69" % (name, method),
          m.get("max-forwards"))
    vias = m.get_all("via")
    ck.ok(len(vias) == 2 and proxy in vias[0], "%s: %s the proxy's Via on top of the caller's"
          % (name, method), vias)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    ck = Checker("strict routing")
    caller = Conn("udp", host, port, endpoint=True)
    hop = Conn("udp", host, port, endpoint=True)
    p, h = "%s:%d" % (host, port), "%s:%d" % (hop.local_ip, hop.local_port)
    for name, ruri, routes, want_ruri, want_routes, ack_same in cases(p, h):
        call_id = new_call_id()
        caller.send(request(caller, "MESSAGE", ruri, routes, call_id))
        m = hop.recv(3.0)
        check_arrival(ck, name, m, "MESSAGE", want_ruri, want_routes, p)
        if m is not None and m.status is None:
            hop.send(reply(m, 200, "OK", to_tag=new_tag()), to=hop.last_peer)
            r = caller.recv(3.0)
            while r is not None and r.status is not None and r.status < 200:
                r = caller.recv(3.0)
            ck.ok(r is not None and r.status == 200, "%s: the 200 reached the caller" % name,
                  r.start_line if r is not None else None)
        caller.send(request(caller, "ACK", ruri, routes, call_id))
        check_arrival(ck, name, hop.recv(3.0), "ACK", want_ruri if ack_same else None,
                      want_routes, p)
    caller.close()
    hop.close()
    return ck.done()


if __name__ == "__main__":
    sys.exit(main())
