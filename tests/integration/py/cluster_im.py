#!/usr/bin/env python3
"""cluster_im.py HOST LB1 LB2 RUN - the im package through two balancers (docs/cluster.md).

  - Bob's three devices (TCP via balancer 1, UDP and TCP via balancer 2) register and subscribe to
    bob's topic; the 200s carry the balancer's Record-Route (so NOTIFYs and refreshes pass it).
  - Alice, on balancer 2, publishes 20 messages to bob: every device receives 1..20, in order, over
    its own flow.
  - A refresh follows the route set through the balancer to the broker and gets 200.
  - Carol, a plain client (registered via balancer 1, no subscription), gets alice's 3 messages as
    page-mode MESSAGEs.
  - Presence: erin watches dave through balancer 2 while dave publishes through balancer 1: the
    NOTIFYs carry dave's PIDF, open then closed.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Device  # noqa: E402
from presence_common import PIDF_TYPE, pidf  # noqa: E402

host, lb1, lb2, run = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
c = Checker("cluster im")
bob = "bob" + run
bob_aor = "sip:%s@example.com" % bob
devs = [Device("tcp", host, lb1, bob, instance="urn:uuid:%s-1" % bob),
        Device("udp", host, lb2, bob, instance="urn:uuid:%s-2" % bob),
        Device("tcp", host, lb2, bob, instance="urn:uuid:%s-3" % bob)]
for i, d in enumerate(devs):
    r = d.register()
    c.ok(r is not None and r.status == 200, "bob's device %d registers through a balancer" % (i + 1),
         r.summary() if r else None)
    r = d.subscribe(bob_aor)
    c.ok(r is not None and r.status == 200, "bob's device %d subscribes (im)" % (i + 1),
         r.summary() if r else None)
    rr = r.get_all("record-route") if r is not None else []
    c.ok(any("flow=" in x for x in rr), "device %d: the 200 carries the balancer's Record-Route" % (i + 1), rr)

alice = Device("tcp", host, lb2, "alice" + run)
codes = [getattr(alice.publish(bob_aor, "msg %d" % i), "status", None) for i in range(1, 21)]
c.ok(all(x in (200, 202) for x in codes), "alice publishes 20 messages through balancer 2: 2xx", codes)
for i, d in enumerate(devs):
    d.wait_for(lambda d=d: len(d.messages()) >= 20, timeout=10)
    seqs = [m.seq for m in d.messages()]
    c.ok(seqs == list(range(1, 21)), "device %d received 1..20 in order" % (i + 1), seqs)

r = devs[0].refresh(bob_aor)
c.ok(r is not None and r.status == 200, "a refresh follows the route set through the balancer",
     r.summary() if r else None)

carol = Device("udp", host, lb1, "carol" + run)
r = carol.register()
c.ok(r is not None and r.status == 200, "carol (plain client) registers through balancer 1")
codes = [getattr(alice.publish("sip:carol%s@example.com" % run, "page %d" % i), "status", None)
         for i in range(3)]
c.ok(all(x in (200, 202) for x in codes), "alice's 3 messages to carol: 2xx", codes)
carol.wait_for(lambda: len(carol.pages()) >= 3, timeout=10)
c.ok(len(carol.pages()) == 3, "carol got 3 page-mode MESSAGEs", len(carol.pages()))
dave_aor = "sip:dave%s@example.com" % run
dave = Device("tcp", host, lb1, "dave" + run)


def publish(basic, etag=None):
    hdrs = ["Event: presence", "Content-Type: %s" % PIDF_TYPE, "Expires: 60"]
    if etag:
        hdrs.append("SIP-If-Match: %s" % etag)
    r, _, _ = dave.send_request("PUBLISH", dave_aor, headers=hdrs,
                                body=pidf(dave_aor, [("t1", basic, None)]).encode())
    return r


r = publish("open")
c.ok(r is not None and r.status == 200 and r.get("sip-etag"), "dave PUBLISHes presence through balancer 1",
     r.summary() if r else None)
etag = r.get("sip-etag") if r is not None else None
erin = Device("udp", host, lb2, "erin" + run)
r = erin.subscribe(dave_aor, event="presence")
c.ok(r is not None and r.status == 200, "erin SUBSCRIBEs to dave's presence through balancer 2",
     r.summary() if r else None)
erin.wait_for(lambda: any(b"<basic>open</basic>" in n.body for n in erin.presence_notifies()), timeout=5)
c.ok(any(b"<basic>open</basic>" in n.body for n in erin.presence_notifies()),
     "erin's NOTIFY (through the balancer) says open", [n.body[:80] for n in erin.presence_notifies()])
r = publish("closed", etag)
c.ok(r is not None and r.status == 200, "dave modifies his publication: closed", r.summary() if r else None)
erin.wait_for(lambda: any(b"<basic>closed</basic>" in n.body for n in erin.presence_notifies()), timeout=5)
c.ok(any(b"<basic>closed</basic>" in n.body for n in erin.presence_notifies()),
     "erin hears closed", len(erin.presence_notifies()))
for d in devs + [alice, carol, dave, erin]:
    d.close()
c.done()
