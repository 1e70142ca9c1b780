#!/usr/bin/env python3
"""register_instance.py - one device (+sip.instance, no reg-id) registers again from a new TCP
connection: its binding is replaced, not doubled (RFC 5627 §6), so a call reaches it once.

    register_instance.py HOST PORT [--domain D] [--user U]

Connection A registers Contact <sip:U@HOST:portA;transport=tcp>;+sip.instance=...; connection B
(same instance, same Call-ID, next CSeq) registers <sip:U@HOST:portB;transport=tcp>. Then:
  - a query REGISTER (no Contact, over UDP) lists exactly one Contact: portB's;
  - an INVITE through the proxy reaches connection B only (B answers 486; A gets nothing).
Exit 0 when every check passed.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import (Checker, Conn, Message, SDP, bindings, build, new_call_id, new_tag,
                       register, reply, request_method, show)  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--domain", default="example.com")
    ap.add_argument("--user", default="inst%d" % os.getpid())
    a = ap.parse_args()
    ck = Checker("register_instance")
    inst = ';+sip.instance="<urn:uuid:6f1c2b9e-4a4b-4f0e-9d3a-%012d>"' % os.getpid()
    call_id = new_call_id()
    tag = new_tag()

    dev_a = Conn("tcp", a.host, a.port)
    dev_b = Conn("tcp", a.host, a.port)
    contact_a = "sip:%s@%s:%d;transport=tcp" % (a.user, dev_a.via_host, dev_a.local_port)
    contact_b = "sip:%s@%s:%d;transport=tcp" % (a.user, dev_b.via_host, dev_b.local_port)
    r = register(dev_a, a.user, a.domain, ["<%s>%s" % (contact_a, inst)], expires=600,
                 call_id=call_id, cseq=1, tag=tag)
    ck.ok(r is not None and r.status == 200, "REGISTER from connection A gets 200", show(b"", r))
    r = register(dev_b, a.user, a.domain, ["<%s>%s" % (contact_b, inst)], expires=600,
                 call_id=call_id, cseq=2, tag=tag)
    got = [u for u, _ in bindings(r)]
    ck.ok(r is not None and r.status == 200 and got == [contact_b],
          "REGISTER of the same instance from connection B replaces A's binding (one Contact)",
          show(b"", r))

    q = Conn("udp", a.host, a.port)
    r = register(q, a.user, a.domain, [])
    got = [u for u, _ in bindings(r)]
    ck.ok(r is not None and r.status == 200 and got == [contact_b],
          "a query REGISTER lists one Contact, connection B's", show(b"", r))

    # a call through the proxy: B only
    caller = Conn("udp", a.host, a.port, endpoint=True)
    ruri = "sip:%s@%s" % (a.user, a.domain)
    inv = caller.request("INVITE", ruri=ruri, user="caller", domain=a.domain,
                         headers=["To: <%s>" % ruri,
                                  "Contact: <sip:caller@%s:%d>" % (caller.via_host, caller.local_port),
                                  "Content-Type: application/sdp"],
                         omit=("to",), body=SDP)
    caller.send(inv)
    m = dev_b.recv(5.0)
    is_invite = m is not None and m.status is None and request_method(m) == "INVITE"
    ck.ok(is_invite, "the INVITE reaches connection B", m.summary() if m else "(nothing)")
    if is_invite:
        dev_b.send(reply(m, 486, "Busy Here", to_tag=new_tag()))
    extra = dev_a.recv(1.5)
    ck.ok(extra is None, "connection A gets no INVITE (no second fork to the same device)",
          extra.summary() if extra else None)
    final = None
    while True:
        f = caller.recv(4.0)
        if f is None or (f.status is not None and f.status >= 200):
            final = f
            break
    ck.ok(final is not None and final.status == 486, "the caller gets B's 486",
          final.summary() if final else "(no final response)")
    if final is not None:  # RFC 3261 §17.1.1.3: the ACK of a non-2xx, same branch
        inv_msg = Message(inv)
        caller.send(build(["ACK %s SIP/2.0" % ruri, "Via: %s" % inv_msg.get("via"),
                           "Max-Forwards: 70", "From: %s" % inv_msg.get("from"),
                           "To: %s" % final.get("to"), "Call-ID: %s" % inv_msg.get("call-id"),
                           "CSeq: 1 ACK"]))
    for c in (dev_a, dev_b, q, caller):
        c.close()
    ck.done()


if __name__ == "__main__":
    main()
