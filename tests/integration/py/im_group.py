#!/usr/bin/env python3
"""im_group.py TRANSPORT HOST PORT GROUP MEMBER_PREFIX N - a group of N members.

sipd was started with --set broker.groups="GROUP=MEMBER_PREFIX1@example.com ...N". Every member
subscribes to the group topic; members 1..3 each send messages. Checks:
  - every member receives every message, in one order (seq 1..M), with im.Topic = the group,
    CPIM From = the real sender, To = the group
  - the sender's own device gets no NOTIFY of its own message (§9.3 skip), but its other device does
  - Im-Seq without copy (groups get no sender's copy)
  - a non-member: SUBSCRIBE -> 403, MESSAGE -> 403
  - subscribing to someone else's user topic -> 403; to a topic in a domain not served -> not the
    broker's (no 200)
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Device  # noqa: E402

transport, host, port, group, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], \
    sys.argv[5], int(sys.argv[6])
c = Checker("im group/%s" % transport)
members = [Device(transport, host, port, "%s%d" % (prefix, i), instance="urn:uuid:%s%d" % (prefix, i))
           for i in range(1, n + 1)]
second = Device(transport, host, port, "%s1" % prefix, instance="urn:uuid:%s1-second" % prefix)
codes = [m.subscribe(group).status for m in members + [second]]
c.ok(all(x == 200 for x in codes), "all %d members (and member 1's second device) subscribe" % n, codes)

sent = []
for k in range(3):
    for s in members[:3]:
        text = "hello from %s #%d" % (s.user, k)
        r = s.publish(group, text)
        sent.append((s.aor, text, r.status if r else None, r and r.get("im-seq")))
c.ok(all(x[2] == 200 for x in sent), "every group MESSAGE -> 200", sent)
c.ok([x[3] for x in sent] == [str(i) for i in range(1, 10)], "Im-Seq 1..9 without copy", [x[3] for x in sent])

for i, m in enumerate(members):
    expect = [j + 1 for j in range(9) if not (i < 3 and sent[j][0] == m.aor)]
    m.wait_for(lambda: len(m.messages()) >= len(expect), timeout=10)
    got = [x.seq for x in m.messages()]
    if not c.ok(got == expect, "member %d got %s" % (i + 1, "all 9" if i >= 3 else "the 6 of others"), got):
        continue
    for x in m.messages():
        j = x.seq - 1
        if x.cpim_get("From") != "<%s>" % sent[j][0] or x.cpim_get("To") != "<%s>" % group \
                or x.cpim_get("im.Topic") != "<%s>" % group or x.body.decode() != sent[j][1]:
            c.ok(False, "member %d: CPIM of seq %d" % (i + 1, x.seq), x.cpim)
            break
second.wait_for(lambda: len(second.messages()) >= 9)
c.ok([x.seq for x in second.messages()] == list(range(1, 10)),
     "member 1's other device gets member 1's own messages too", [x.seq for x in second.messages()])

# a member's plain device (registered, no im subscription) gets group messages as MESSAGE, and
# what it missed while away when it registers again
plain = Device(transport, host, port, "%s%d" % (prefix, n), instance="urn:uuid:%s-plain" % prefix)
r = plain.register()
c.ok(r is not None and r.status == 200, "member %d's plain device registers" % n)
r = members[0].publish(group, "for plain clients too")
c.ok(r is not None and r.status == 200, "group MESSAGE -> 200")
plain.wait_for(lambda: plain.pages())
pg = plain.pages()
c.ok(len(pg) == 1 and pg[0].body == b"for plain clients too", "the plain device got it as MESSAGE",
     [x.body for x in pg])
if pg:
    frm = pg[0].msg.get("from") or ""
    c.ok(frm.startswith('"%s1@example.com" <%s>' % (prefix, group)),
         "From: \"<sender>\" <group> so replies go to the group", frm)
plain.close()
r = members[1].publish(group, "while the plain device is away")
c.ok(r is not None and r.status == 200, "another group MESSAGE -> 200")
time.sleep(0.5)
plain2 = Device(transport, host, port, "%s%d" % (prefix, n), instance="urn:uuid:%s-plain" % prefix)
r = plain2.register()
c.ok(r is not None and r.status == 200, "the plain device registers again")
plain2.wait_for(lambda: plain2.pages(), timeout=5)
c.ok([x.body for x in plain2.pages()] == [b"while the plain device is away"],
     "after REGISTER it gets the group message it missed, once", [x.body for x in plain2.pages()])

outsider = Device(transport, host, port, "outsider" + prefix)
r = outsider.subscribe(group)
c.ok(r is not None and r.status == 403, "non-member SUBSCRIBE -> 403", r and r.summary())
r = outsider.publish(group, "let me in")
c.ok(r is not None and r.status == 403, "non-member MESSAGE -> 403", r and r.summary())
r = outsider.subscribe("sip:%s1@example.com" % prefix)
c.ok(r is not None and r.status == 403, "SUBSCRIBE to another user's topic -> 403", r and r.summary())
for d in members + [second, outsider, plain2]:
    d.close()
c.done()
