#!/usr/bin/env python3
"""im_lifecycle.py MODE HOST PORT RUN [READY_FILE] - subscription life cycle.

MODE "flow" (sipd with broker.im_min_expires=1):
  - a TCP device subscribes, then its connection closes: the subscription waits (a message to the
    user now gets 202: no device online), it is not re-opened towards the device;
  - the device connects again and refreshes the SAME dialog over the new connection: 200, a
    body-less NOTIFY, then the message it missed, over the new connection;
  - a subscription with Expires: 2 ends by itself with terminated;reason=timeout;
  - a 481 answer to a NOTIFY ends the subscription (the next message -> 202).
MODE "shutdown": subscribe over TCP, write READY_FILE, wait for the broker's SIGTERM-time
  NOTIFY: Subscription-State terminated;reason=deactivated (exit 0 when it came).
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Device  # noqa: E402

mode, host, port, run = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = Checker("im life cycle/%s" % mode)
user = "lc" + run
aor = "sip:%s@example.com" % user

if mode == "shutdown":
    d = Device("tcp", host, port, user, instance="urn:uuid:sd-" + run)
    r = d.subscribe(aor)
    c.ok(r is not None and r.status == 200, "subscribed")
    d.pump(0.3)
    open(sys.argv[5], "w").write("ready\n")
    ok = d.wait_for(lambda: any(x.sub_state.startswith("terminated") for x in d.bodyless()), timeout=20)
    last = d.bodyless()[-1] if d.bodyless() else None
    c.ok(ok and last.sub_state.startswith("terminated;reason=deactivated"),
         "SIGTERM: final NOTIFY terminated;reason=deactivated", last and last.sub_state)
    c.done()

sender = Device("tcp", host, port, "sender" + run)
d = Device("tcp", host, port, user, instance="urn:uuid:lc-" + run)
r = d.subscribe(aor)
c.ok(r is not None and r.status == 200, "subscribed over TCP")
d.pump(0.3)
dialog = d.dialogs[aor]
d.close()
time.sleep(0.3)
r = sender.publish(aor, "while you were away")
c.ok(r is not None and r.status == 202, "connection closed: the subscription waits, publish -> 202",
     r and r.summary())

d2 = Device("tcp", host, port, user, instance="urn:uuid:lc-" + run)
d2.dialogs[aor] = dialog
r = d2.refresh(aor)
c.ok(r is not None and r.status == 200, "refresh of the same dialog over a new connection -> 200",
     r and r.summary())
d2.wait_for(lambda: d2.messages())
c.ok([m.body for m in d2.messages()] == [b"while you were away"], "the missed message arrives",
     [m.body for m in d2.messages()])
c.ok(d2.bodyless() and d2.received[0].seq is None, "after a body-less NOTIFY")
r = sender.publish(aor, "live")
c.ok(r is not None and r.status == 200, "active again: publish -> 200")

e = Device("tcp", host, port, user, instance="urn:uuid:lc2-" + run)
r = e.subscribe(aor, expires=2)
c.ok(r is not None and r.status == 200 and r.get("expires") == "2", "Expires: 2 granted")
ok = e.wait_for(lambda: any(x.sub_state.startswith("terminated") for x in e.bodyless()), timeout=6)
c.ok(ok and e.bodyless()[-1].sub_state.startswith("terminated;reason=timeout"),
     "expiry: terminated;reason=timeout", [x.sub_state for x in e.bodyless()])

d2.answer = lambda msg: 481 if msg.body else 200
sender.publish(aor, "refused")
d2.pump(0.5)
r = sender.publish(aor, "nobody")
c.ok(r is not None and r.status == 202, "481 to a NOTIFY ended the subscription: publish -> 202",
     r and r.summary())
for x in (sender, d2, e):
    x.close()
c.done()
