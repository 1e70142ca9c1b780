#!/usr/bin/env python3
"""im_slow.py TRANSPORT HOST PORT RUN - slow subscribers lose nothing; discarded history is a gap.

sipd runs with broker.im_max_queue=4 and broker.im_retention_count=20.
  1. A device that answers nothing for a while (its NOTIFY outstanding) while 15 messages are
     published: afterwards it receives all 15 in order, exactly once (the live queue overflowed
     into reading from the store: nothing dropped). The NOTIFY it never answered was resent by
     the transaction layer (UDP) or waited on (TCP) - either way one at a time.
  2. Retention: 40 messages are in Gina's topic, 20 kept. A device subscribing with since=5 gets a
     body-less NOTIFY with first-seq=21, then 21..40, the first carrying im.Gap: 6-20.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Device, event_param  # noqa: E402

transport, host, port, run = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = Checker("im slow/%s" % transport)
hal, gina = "hal" + run, "gina" + run
hal_aor, gina_aor = "sip:%s@example.com" % hal, "sip:%s@example.com" % gina

slow = Device(transport, host, port, hal, instance="urn:uuid:slow-" + run)
sender = Device(transport, host, port, "ivan" + run)
r = slow.subscribe(hal_aor)
c.ok(r is not None and r.status == 200, "slow device subscribes")
slow.pump(0.3)
held = []
slow.answer = lambda msg: (held.append(msg) and None) if msg.body else 200  # hold message NOTIFYs
codes = [sender.publish(hal_aor, "m%d" % i).status for i in range(1, 16)]
c.ok(all(x == 200 for x in codes), "15 publishes -> 200", codes)
slow.pump(0.5)
distinct = sorted({int(re_seq) for re_seq in
                   [m.body.split(b"im.Seq: ")[1].split(b"\r\n")[0] for m in held]})
c.ok(distinct == [1], "only the first NOTIFY was sent while it was unanswered", distinct)
slow.answer = None
# answer the held NOTIFY (any copy of it) so the subscription moves on
if held:
    slow._handle(held[-1])
slow.wait_for(lambda: len(slow.messages()) >= 15, timeout=15)
got = [m.seq for m in slow.messages()]
c.ok(got == list(range(1, 16)), "then all 15 arrive, in order, once each", got)
c.ok([m.body.decode() for m in slow.messages()] == ["m%d" % i for i in range(1, 16)], "bodies in order")
c.ok(all(m.cpim_get("im.Gap") is None for m in slow.messages()), "no gap reported")

for i in range(1, 41):
    sender.publish(gina_aor, "g%d" % i)
late = Device(transport, host, port, gina, instance="urn:uuid:late-" + run)
r = late.subscribe(gina_aor, since=5)
c.ok(r is not None and r.status == 200, "late device subscribes with since=5")
late.wait_for(lambda: len(late.messages()) >= 20)
bl = late.bodyless()
c.ok(bl and event_param(bl[0].event, "first-seq") == "21" and event_param(bl[0].event, "last-seq") == "40",
     "body-less NOTIFY: last-seq=40 first-seq=21", bl and bl[0].event)
ms = late.messages()
c.ok([m.seq for m in ms] == list(range(21, 41)), "then 21..40", [m.seq for m in ms])
c.ok(ms and ms[0].cpim_get("im.Gap") == "6-20", "the first carries im.Gap: 6-20", ms and ms[0].cpim)
c.ok(all(m.cpim_get("im.Gap") is None for m in ms[1:]), "and no other does")
for d in (slow, sender, late):
    d.close()
c.done()
