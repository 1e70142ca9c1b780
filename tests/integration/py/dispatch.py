#!/usr/bin/env python3
"""dispatch.py TRANSPORT HOST PORT - which requests sipd (started WITHOUT --domain) keeps and which
it forwards: one rule for every role (sip/uri.c uri_is_ours).

(a) MESSAGE to sip:svc@127.0.0.1:<a UAS's port> is someone else's: forwarded to that UAS (its 200
    comes back), not stored by the broker (202); MESSAGE to sip:bob@127.0.0.1 (no port) for a
    user registered here is the broker's (202, then page mode to bob's Contact).
(b) A softphone's REGISTER sip:127.0.0.1 (account sip:alice@127.0.0.1, sipd on another port) gets
    200 from sipd itself; a MESSAGE and an INVITE to sip:alice@127.0.0.1 from another device reach
    alice's registered Contact."""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Device  # noqa: E402


class Phone(Device):
    """A Device that also remembers every request it got (INVITE included)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.raw_requests = []

    def _handle(self, msg):
        if msg.status is None:
            self.raw_requests.append(msg)
        super()._handle(msg)


transport, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
tag = "%d" % os.getpid()
c = Checker("dispatch %s" % transport)
sender = Device(transport, host, port, "carol" + tag, domain="127.0.0.1")

# (a) another server's port: forwarded (the UAS listens on UDP; the sender uses TRANSPORT)
uas = Device("udp", host, port, "svc", domain="127.0.0.1")
svc = "sip:svc@127.0.0.1:%d" % uas.conn.local_port
call_id = "dispatch-a-%s" % tag
sender.conn.send(
    "MESSAGE %s SIP/2.0\r\nVia: SIP/2.0/%s %s:%d;rport;branch=z9hG4bKa%s\r\nMax-Forwards: 70\r\n"
    "From: <%s>;tag=a%s\r\nTo: <%s>\r\nCall-ID: %s\r\nCSeq: 1 MESSAGE\r\n"
    "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello" % (
        svc, transport.upper(), sender.conn.via_host, sender.conn.local_port, tag, sender.aor, tag,
        svc, call_id))
c.ok(uas.wait_for(lambda: len(uas.pages()) == 1, 5.0),
     "MESSAGE to %s reaches the UAS listening there (forwarded)" % svc)
r = sender.wait_response(call_id, "MESSAGE", 5.0)
c.ok(r is not None and r.status == 200, "the UAS's 200 comes back (not the broker's 202)",
     r and r.summary())

# (a) a user of ours, no port: the broker's
bob = Device(transport, host, port, "bob" + tag, domain="127.0.0.1")
r = bob.register()
c.ok(r is not None and r.status == 200, "bob: REGISTER sip:127.0.0.1 -> 200", r and r.summary())
r = sender.publish(bob.aor, "hi bob")
c.ok(r is not None and r.status in (200, 202), "MESSAGE to %s accepted" % bob.aor, r and r.summary())
c.ok(bob.wait_for(lambda: len(bob.pages()) >= 1, 5.0), "bob gets it at his Contact")
got = bob.pages()[0].msg if bob.pages() else None
c.ok(got is not None and got.get("date") is not None and got.get("call-id") != r.get("call-id"),
     "... delivered by the broker (page mode: its own request with a Date), not forwarded",
     got and got.summary())

# (b) a softphone's REGISTER sip:127.0.0.1 and a MESSAGE to its AOR
alice = Phone(transport, host, port, "alice" + tag, domain="127.0.0.1")
r = alice.register()
c.ok(r is not None and r.status == 200 and alice.contact_uri in (r.get("contact") or ""),
     "alice: REGISTER sip:127.0.0.1 -> 200 from sipd with her binding", r and r.summary())
other = Device(transport, host, port, "dave" + tag, domain="127.0.0.1")
r = other.publish(alice.aor, "hi alice")
c.ok(r is not None and r.status in (200, 202), "MESSAGE to %s accepted" % alice.aor,
     r and r.summary())
c.ok(alice.wait_for(lambda: len(alice.pages()) >= 1, 5.0),
     "the MESSAGE to %s reaches alice's registered Contact" % alice.aor)
# ... and an INVITE to her AOR is proxied to her Contact: her device (which takes no calls)
# answers 501, relayed back; sipd itself would have said 404/480 (or timed out at port 5060)
seen = []
worker = threading.Thread(target=lambda: seen.append(alice.wait_for(
    lambda: any(m.start_line.startswith("INVITE ") for m in alice.raw_requests), 5.0)))
worker.start()
r, _, _ = other.send_request("INVITE", alice.aor, timeout=6.0)
worker.join()
c.ok(seen == [True], "the INVITE to %s reaches alice's registered Contact" % alice.aor)
c.ok(r is not None and r.status == 501, "... and her answer comes back through sipd", r and r.summary())
for d in (sender, uas, bob, alice, other):
    d.close()
c.done()
