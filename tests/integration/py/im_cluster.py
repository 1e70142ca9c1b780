#!/usr/bin/env python3
"""im_cluster.py HOST PORT_A PORT_B RUN - two broker nodes sharing one PostgreSQL database.

  - Bob's device subscribes on node A; Alice publishes 30 messages through node B: the device
    receives all 30, in order (node B stores, node A learns of them by the database's
    announcement and reads them, §15).
  - Two publishers, one per node, each send 100 messages to one topic at the same time: every
    Im-Seq is unique, together they are exactly 1..200, and a replay (since=0) shows each
    message at the seq its publisher was told.
"""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Device  # noqa: E402

host, pa, pb, run = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
c = Checker("im cluster")
bob_aor = "sip:bob%s@example.com" % run
dev = Device("tcp", host, pa, "bob" + run, instance="urn:uuid:bob-" + run)
r = dev.subscribe(bob_aor)
c.ok(r is not None and r.status == 200, "Bob subscribes on node A")
alice = Device("tcp", host, pb, "alice" + run)
codes = [alice.publish(bob_aor, "via B %d" % i).status for i in range(1, 31)]
c.ok(all(x in (200, 202) for x in codes), "30 publishes through node B -> 2xx", codes)
dev.wait_for(lambda: len(dev.messages()) >= 30, timeout=15)
c.ok([m.seq for m in dev.messages()] == list(range(1, 31)), "the device on node A got 1..30 in order",
     [m.seq for m in dev.messages()])

topic = "sip:shared%s@example.com" % run
results = {}


def publisher(name, port):
    d = Device("tcp", host, port, name + run)
    out = []
    for i in range(100):
        text = "%s %d" % (name, i)
        r = d.publish(topic, text)
        out.append((r.get("im-seq").split(";")[0] if r is not None else None, text))
    results[name] = out
    d.close()


threads = [threading.Thread(target=publisher, args=(n, p)) for n, p in (("pa", pa), ("pb", pb))]
for t in threads:
    t.start()
for t in threads:
    t.join(60)
seqs = [int(s) for out in results.values() for s, _ in out if s]
c.ok(sorted(seqs) == list(range(1, 201)), "two nodes, one topic: Im-Seq values are exactly 1..200",
     sorted(seqs)[:10])
owner = Device("tcp", host, pa, "shared" + run, instance="urn:uuid:shared-" + run)
r = owner.subscribe(topic, since=0)
owner.wait_for(lambda: len(owner.messages()) >= 200, timeout=20)
got = {m.seq: m.body.decode() for m in owner.messages()}
wrong = [(s, t) for out in results.values() for s, t in out if s and got.get(int(s)) != t]
c.ok(len(got) == 200 and not wrong, "each message is at the seq its publisher was told", wrong[:5])
for d in (dev, alice, owner):
    d.close()
c.done()
