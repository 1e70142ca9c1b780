#!/usr/bin/env python3
"""im_cluster_offline.py HOST PORT_A PORT_B RUN GROUP PREFIX - what was stored for an offline
device through one node is delivered when it registers at the other (page mode, §11.4).

Node A first serves REGISTERs for a while (so it knows, without a query, which topics hold
messages, and skips the replay checks for the others: pagemode.c); then, with the devices
offline, messages are published through node B, and the devices register at node A:
  - Dave (never registered before): 2 messages -> 202; at REGISTER on A he gets both, in order;
  - Erin (registered on A while her topic was empty, then unregistered): she gets hers;
  - member 1 of GROUP (registered on A, then unregistered): a message to the group through B
    (member 2) reaches member 1 as a MESSAGE when it registers on A again.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Device  # noqa: E402

host, pa, pb, run, group, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], \
    sys.argv[5], sys.argv[6]
c = Checker("im cluster offline")


def dev(port, user):
    return Device("tcp", host, port, user, instance="urn:uuid:%s-%d" % (user, port))


# node A and B learn what the store holds (their first REGISTERs), then skip for the rest
warm_a, warm_b = dev(pa, "warm" + run), dev(pb, "warmb" + run)
for d in (warm_a, warm_b, warm_a, warm_b):
    r = d.register()
    c.ok(r is not None and r.status == 200, "warm-up REGISTER -> 200")
    time.sleep(0.3)

erin = dev(pa, "erin" + run)
m1 = dev(pa, prefix + "1")
for d, who in ((erin, "Erin"), (m1, "group member 1")):
    r = d.register()
    c.ok(r is not None and r.status == 200, "%s registers on node A" % who)
    d.pump(0.3)
    r = d.register(expires=0)
    c.ok(r is not None and r.status == 200, "%s unregisters (offline)" % who)

alice = dev(pb, "alice" + run)
dave_aor = "sip:dave%s@example.com" % run
erin_aor = "sip:erin%s@example.com" % run
codes = [alice.publish(dave_aor, "for dave %d" % i).status for i in (1, 2)]
codes.append(alice.publish(erin_aor, "for erin").status)
c.ok(codes == [202, 202, 202], "through node B to offline Dave (2) and Erin (1): 202 each", codes)
m2 = dev(pb, prefix + "2")
r = m2.publish(group, "to the group")
c.ok(r is not None and r.status in (200, 202), "member 2 publishes to the group through node B",
     r and r.summary())
time.sleep(0.3)  # node A hears of them by the database's announcements

dave = dev(pa, "dave" + run)
for d, who, want in ((dave, "Dave", ["for dave 1", "for dave 2"]), (erin, "Erin", ["for erin"]),
                     (m1, "group member 1", ["to the group"])):
    r = d.register()
    c.ok(r is not None and r.status == 200, "%s registers on node A" % who)
    d.wait_for(lambda: len(d.pages()) >= len(want), timeout=5)
    got = [x.body.decode() for x in d.pages()]
    c.ok(got == want, "%s gets what was stored while offline, in order" % who, got)
c.done()
