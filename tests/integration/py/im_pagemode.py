#!/usr/bin/env python3
"""im_pagemode.py TRANSPORT HOST PORT RUN - plain clients (no `im` subscription) get MESSAGE.

  - Carol has a plain device (REGISTER only) and an im device (SUBSCRIBE): a message from Alice
    -> 200; the plain device gets a MESSAGE (From alice, To carol, Date, body and Content-Type
    unchanged), the im device a NOTIFY, and neither gets both.
  - Alice's own plain device never gets her messages back.
  - Dave has no device online: 3 messages -> 202 Accepted each; when Dave's plain device
    registers it gets the 3 as MESSAGEs, in order, and nothing twice on a re-REGISTER.
  - A refusal (488) from the plain device counts as delivered: the next message follows.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Device  # noqa: E402

transport, host, port, run = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = Checker("im page mode/%s" % transport)
carol, alice, dave = "carol" + run, "alice" + run, "dave" + run
carol_aor, dave_aor = "sip:%s@example.com" % carol, "sip:%s@example.com" % dave

plain = Device(transport, host, port, carol, instance="urn:uuid:carol-plain-" + run)
imdev = Device(transport, host, port, carol, instance="urn:uuid:carol-im-" + run)
a_plain = Device(transport, host, port, alice, instance="urn:uuid:alice-plain-" + run)
a_send = Device(transport, host, port, alice, instance="urn:uuid:alice-send-" + run)
r = plain.register()
c.ok(r is not None and r.status == 200, "Carol's plain device registers", r and r.summary())
r = a_plain.register()
c.ok(r is not None and r.status == 200, "Alice's plain device registers")
r = imdev.register()
r = imdev.subscribe(carol_aor)
c.ok(r is not None and r.status == 200, "Carol's im device registers and subscribes")

r = a_send.publish(carol_aor, "hi carol \u263a", ctype="text/plain;charset=UTF-8")
c.ok(r is not None and r.status == 200, "MESSAGE to Carol -> 200", r and r.summary())
plain.wait_for(lambda: plain.pages())
imdev.wait_for(lambda: imdev.messages())
p = plain.pages()
c.ok(len(p) == 1, "the plain device got one MESSAGE", len(p))
if p:
    m = p[0].msg
    c.ok("<sip:%s@example.com>" % alice in (m.get("from") or ""), "From: Alice's AOR", m.get("from"))
    c.ok(carol_aor in (m.get("to") or ""), "To: Carol's AOR", m.get("to"))
    c.ok(m.get("date") is not None, "Date: header present")
    c.ok(m.body.decode() == "hi carol \u263a" and m.get("content-type") == "text/plain;charset=UTF-8",
         "body and Content-Type unchanged (no CPIM)", (m.get("content-type"), m.body))
c.ok(len(imdev.messages()) == 1 and not imdev.pages(), "the im device got a NOTIFY and no MESSAGE",
     (len(imdev.messages()), len(imdev.pages())))
a_plain.pump(0.5)
c.ok(not a_plain.pages(), "Alice's plain device did not get her own message back")

codes = [a_send.publish(dave_aor, "offline %d" % i).status for i in range(1, 4)]
c.ok(codes == [202, 202, 202], "Dave offline: 202 Accepted for each", codes)
dv = Device(transport, host, port, dave, instance="urn:uuid:dave-" + run)
r = dv.register()
c.ok(r is not None and r.status == 200, "Dave registers")
dv.wait_for(lambda: len(dv.pages()) >= 3, timeout=5)
c.ok([x.body.decode() for x in dv.pages()] == ["offline 1", "offline 2", "offline 3"],
     "Dave's device receives the 3 stored messages in order", [x.body for x in dv.pages()])
dv.register()
dv.pump(1.0)
c.ok(len(dv.pages()) == 3, "nothing twice after a re-REGISTER", len(dv.pages()))

refused = []
dv.answer = lambda msg: (refused.append(msg.body) or 488) if not refused else 200
a_send.publish(dave_aor, "refuse me")
a_send.publish(dave_aor, "take me")
dv.wait_for(lambda: len(dv.pages()) >= 4, timeout=5)
c.ok(refused == [b"refuse me"] and [x.body.decode() for x in dv.pages()][3:] == ["take me"],
     "after a 488 the next message follows", (refused, [x.body for x in dv.pages()]))
for d in (plain, imdev, a_plain, a_send, dv):
    d.close()
c.done()
