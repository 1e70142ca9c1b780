#!/usr/bin/env python3
"""im_fanout.py TRANSPORT HOST PORT RUN - Bob on three devices receives every message in order.

Bob subscribes to his topic from three devices; Alice subscribes to hers from two (laptop and
phone). Alice's laptop sends N messages to Bob by MESSAGE (and one by PUBLISH). Checks:
  - SUBSCRIBE -> 200 with Expires and Allow-Events, then a body-less NOTIFY with
    Event: im;last-seq=0;first-seq=1 and Subscription-State: active;expires=...
  - each publish -> 200 with Im-Seq: k;copy=k (Bob's topic and Alice's copy)
  - every Bob device gets exactly seqs 1..N+1 in order, CPIM From/To/NS/im.Seq right, the body
    unchanged (UTF-8), inner Content-Type verbatim
  - Alice's phone gets the copies (From alice, To bob), Alice's laptop (the sender) gets none
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Device, event_param, NS_URN  # noqa: E402

transport, host, port, run = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = Checker("im fan-out/%s" % transport)
N = 30
bob, alice = "bob" + run, "alice" + run
bob_aor, alice_aor = "sip:%s@example.com" % bob, "sip:%s@example.com" % alice

bobs = [Device(transport, host, port, bob, instance="urn:uuid:bob-%s-%d" % (run, i)) for i in range(3)]
laptop = Device(transport, host, port, alice, instance="urn:uuid:alice-%s-laptop" % run)
phone = Device(transport, host, port, alice, instance="urn:uuid:alice-%s-phone" % run)

r = bobs[0].subscribe(bob_aor)
c.ok(r is not None and r.status == 200, "SUBSCRIBE -> 200", r and r.summary())
c.ok(r is not None and r.get("expires") == "600", "200 carries Expires: 600", r and r.summary())
c.ok(r is not None and "im" in (r.get("allow-events") or ""), "200 carries Allow-Events: im")
c.ok(bobs[0].wait_for(lambda: bobs[0].bodyless()), "initial body-less NOTIFY arrives")
first = bobs[0].bodyless()[0] if bobs[0].bodyless() else None
c.ok(first is not None and first.event.startswith("im") and event_param(first.event, "last-seq") == "0"
     and event_param(first.event, "first-seq") == "1", "initial NOTIFY: Event im;last-seq=0;first-seq=1",
     first and first.msg.summary())
c.ok(first is not None and first.sub_state.startswith("active;expires="),
     "initial NOTIFY: Subscription-State active;expires=", first and first.sub_state)
for d in bobs[1:]:
    r = d.subscribe(bob_aor)
    c.ok(r is not None and r.status == 200, "another Bob device subscribes")
for d in (laptop, phone):
    r = d.subscribe(alice_aor)
    c.ok(r is not None and r.status == 200, "Alice device subscribes to her topic")

texts = ["message %d \u00e9\u00e8 \u4e2d\u6587 %s" % (i, run) for i in range(1, N + 1)]
statuses = []
for i, t in enumerate(texts, 1):
    r = laptop.publish(bob_aor, t)
    statuses.append((r.status, r.get("im-seq")) if r else (None, None))
c.ok(all(s == 200 for s, _ in statuses), "every MESSAGE -> 200 (Bob online)", statuses[:5])
c.ok([h for _, h in statuses] == ["%d;copy=%d" % (i, i) for i in range(1, N + 1)],
     "Im-Seq: k;copy=k in order", statuses[:5])
r = laptop.publish(bob_aor, "<b>published</b>", ctype="text/html; charset=utf-8", method="PUBLISH")
c.ok(r is not None and r.status == 200 and r.get("im-seq") == "%d;copy=%d" % (N + 1, N + 1)
     and r.get("sip-etag") and r.get("expires") == "0", "PUBLISH Event: im -> 200, Im-Seq, SIP-ETag, Expires 0",
     r and r.summary())

want = list(range(1, N + 2))
for i, d in enumerate(bobs):
    d.wait_for(lambda: len(d.messages()) >= N + 1, timeout=10)
    got = [m.seq for m in d.messages()]
    c.ok(got == want, "Bob device %d got seqs 1..%d in order" % (i, N + 1), got)
    ms = d.messages()
    if len(ms) == N + 1:
        c.ok([m.body.decode() for m in ms[:N]] == texts, "Bob device %d: bodies unchanged" % i)
        m = ms[0]
        c.ok(m.cpim_get("From") == "<%s>" % alice_aor and m.cpim_get("To") == "<%s>" % bob_aor,
             "CPIM From alice, To bob", m.cpim)
        c.ok(m.cpim_get("NS") == "im <%s>" % NS_URN and m.cpim_get("im.Topic") is None,
             "CPIM NS im, no im.Topic on a user topic", m.cpim)
        c.ok(m.ctype == "text/plain;charset=UTF-8", "inner Content-Type verbatim", m.ctype)
        c.ok(ms[N].ctype == "text/html; charset=utf-8" and ms[N].body == b"<b>published</b>",
             "PUBLISHed body and type unchanged", (ms[N].ctype, ms[N].body))
        c.ok([n for n, _ in m.cpim] == ["From", "To", "DateTime", "NS", "im.Seq"],
             "CPIM headers in the spec's order", m.cpim)
        c.ok(m.msg.get("content-type") == "message/cpim", "NOTIFY Content-Type message/cpim")

phone.wait_for(lambda: len(phone.messages()) >= N + 1, timeout=10)
got = [m.seq for m in phone.messages()]
c.ok(got == want, "Alice's phone got the copies 1..%d" % (N + 1), got)
if phone.messages():
    m = phone.messages()[0]
    c.ok(m.cpim_get("From") == "<%s>" % alice_aor and m.cpim_get("To") == "<%s>" % bob_aor,
         "copy: From alice, To bob", m.cpim)
laptop.pump(0.5)
c.ok(laptop.messages() == [], "the sending laptop got no copy of its own messages",
     [m.seq for m in laptop.messages()])
for d in bobs + [laptop, phone]:
    d.close()
c.done()
