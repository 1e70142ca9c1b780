#!/usr/bin/env python3
"""im_catchup.py TRANSPORT HOST PORT RUN - a device that was away catches up with since=.

Bob's phone and tablet subscribe over TCP. Alice sends 10 messages (both get them). The tablet
drops its connection; Alice sends 50 more; the phone gets all of them live. The tablet
connects again and subscribes anew with since=10: it gets exactly seqs 11..60 in order (after a
body-less NOTIFY saying last-seq=60), then live messages continue in the same subscription.
A refresh of the phone's dialog with since=55 replays 56..61 in the same dialog; Expires: 0
ends it with a terminated NOTIFY. A fetch (initial SUBSCRIBE with Expires: 0) reads the window.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Device, event_param  # noqa: E402

transport, host, port, run = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = Checker("im catch-up/%s" % transport)
bob, alice = "bob" + run, "alice" + run
bob_aor = "sip:%s@example.com" % bob

phone = Device(transport, host, port, bob, instance="urn:uuid:phone-" + run)
tablet = Device(transport, host, port, bob, instance="urn:uuid:tablet-" + run)
sender = Device(transport, host, port, alice, instance="urn:uuid:alice-" + run)
for d in (phone, tablet):
    r = d.subscribe(bob_aor)
    c.ok(r is not None and r.status == 200, "Bob device subscribes")

for i in range(1, 11):
    sender.publish(bob_aor, "early %d" % i)
tablet.wait_for(lambda: len(tablet.messages()) >= 10)
c.ok([m.seq for m in tablet.messages()] == list(range(1, 11)), "tablet got 1..10 before going away",
     [m.seq for m in tablet.messages()])
tablet.close()

codes = []
for i in range(11, 61):
    r = sender.publish(bob_aor, "missed %d" % i)
    codes.append(r.status if r else None)
c.ok(all(x == 200 for x in codes), "the 50 publishes while the tablet is away -> 200 (phone online)",
     codes)
phone.wait_for(lambda: len(phone.messages()) >= 60)
c.ok([m.seq for m in phone.messages()] == list(range(1, 61)), "phone got 1..60 live in order",
     [m.seq for m in phone.messages()])

tablet2 = Device(transport, host, port, bob, instance="urn:uuid:tablet-" + run)
r = tablet2.subscribe(bob_aor, since=10)
c.ok(r is not None and r.status == 200, "tablet subscribes again with since=10", r and r.summary())
tablet2.wait_for(lambda: len(tablet2.messages()) >= 50, timeout=10)
got = [m.seq for m in tablet2.messages()]
c.ok(got == list(range(11, 61)), "tablet got exactly 11..60 in order", got)
c.ok([m.body.decode() for m in tablet2.messages()] == ["missed %d" % i for i in range(11, 61)],
     "the replayed bodies are the missed messages")
bl = tablet2.bodyless()
c.ok(bl and event_param(bl[0].event, "last-seq") == "60" and event_param(bl[0].event, "first-seq") == "1",
     "replay starts with a body-less NOTIFY last-seq=60 first-seq=1", bl and bl[0].event)
c.ok(tablet2.received and tablet2.received[0].seq is None, "the body-less NOTIFY comes first")

r = sender.publish(bob_aor, "live again")
tablet2.wait_for(lambda: len(tablet2.messages()) >= 51)
c.ok([m.seq for m in tablet2.messages()][-1:] == [61], "then live messages continue in that subscription",
     [m.seq for m in tablet2.messages()][-3:])

# refresh with since in the same dialog replays from there
phone.wait_for(lambda: len(phone.messages()) >= 61)
before = len(phone.messages())
r = phone.refresh(bob_aor, since=55)
c.ok(r is not None and r.status == 200, "refresh with since=55 -> 200", r and r.summary())
phone.wait_for(lambda: len(phone.messages()) >= before + 6)
c.ok([m.seq for m in phone.messages()][before:] == list(range(56, 62)), "refresh replays 56..61",
     [m.seq for m in phone.messages()][before:])

# unsubscribe
nb = len(phone.bodyless())
r = phone.refresh(bob_aor, expires=0)
c.ok(r is not None and r.status == 200 and r.get("expires") == "0", "unsubscribe -> 200 Expires: 0",
     r and r.summary())
phone.wait_for(lambda: len(phone.bodyless()) > nb)
last = phone.bodyless()[-1] if phone.bodyless() else None
c.ok(last is not None and last.sub_state.startswith("terminated;reason=timeout"),
     "final NOTIFY terminated;reason=timeout", last and last.sub_state)
sender.publish(bob_aor, "after unsubscribe")
n = len(phone.messages())
phone.pump(0.5)
c.ok(len(phone.messages()) == n, "nothing after unsubscribing")

# fetch: initial SUBSCRIBE with Expires: 0
fetcher = Device(transport, host, port, bob, instance="urn:uuid:fetch-" + run)
r = fetcher.subscribe(bob_aor, expires=0)
c.ok(r is not None and r.status == 200 and r.get("expires") == "0", "fetch -> 200 Expires: 0")
fetcher.wait_for(lambda: fetcher.bodyless())
f = fetcher.bodyless()[0] if fetcher.bodyless() else None
c.ok(f is not None and f.sub_state.startswith("terminated") and event_param(f.event, "last-seq") == "62",
     "fetch NOTIFY: terminated, last-seq=62", f and (f.sub_state, f.event))
for d in (phone, tablet2, sender, fetcher):
    d.close()
c.done()
