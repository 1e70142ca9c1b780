#!/usr/bin/env python3
"""im_errors.py HOST PORT RUN ROLES - rejections of the im package (§8.1, §10.1) and large messages.

SUBSCRIBE: unknown event 489 + Allow-Events when the node does not proxy (ROLES without proxy;
with the proxy role such a SUBSCRIBE is routed to the user's devices: 404 here, nobody registered); bad since (letters, twice, 20 digits, too big)
400 "Bad since"; Expires 10 -> 423 + Min-Expires; Accept without message/cpim -> 406; a body
-> 415; in-dialog refresh with a wrong id -> 481. PUBLISH: unknown event 489, SIP-If-Match 412.
MESSAGE: no body 400, over im_max_message_bytes 413.
Large messages (§9.7): a 1 MiB message reaches a TCP subscriber whole; a UDP subscriber of the
same topic gets a truncation notice (im.Truncated, same im.Seq) whose 200 acknowledges it.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Device  # noqa: E402

host, port, run, roles = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = Checker("im errors")
erin = "erin" + run
topic = "sip:%s@example.com" % erin
d = Device("tcp", host, port, erin, instance="urn:uuid:erin-" + run)


def sub(event, expires=600, extra=()):
    r, _, _ = d.send_request("SUBSCRIBE", topic, headers=["Event: %s" % event, "Expires: %d" % expires]
                             + list(extra))
    return r


r = sub("foo")
if "proxy" in roles or roles == "all":
    c.ok(r is not None and r.status == 404, "unknown event, proxy role: routed to the user (404)",
         r and r.summary())
else:
    c.ok(r is not None and r.status == 489 and "im" in (r.get("allow-events") or ""),
         "unknown event -> 489 with Allow-Events", r and r.summary())
for bad in ("im;since=abc", "im;since=1;since=2", "im;since=" + "1" * 20, "im;since=9223372036854775808",
            "im;since="):
    r = sub(bad)
    c.ok(r is not None and r.status == 400 and r.reason == "Bad since", "%s -> 400 Bad since" % bad,
         r and r.summary())
r = sub("im;since=0009223372036854775807")
c.ok(r is not None and r.status == 200, "since with leading zeros and the maximum value -> 200",
     r and r.summary())
r = sub("im", expires=10)
c.ok(r is not None and r.status == 423 and r.get("min-expires") == "60", "Expires 10 -> 423 Min-Expires 60",
     r and r.summary())
r = sub("im", extra=["Accept: application/pidf+xml"])
c.ok(r is not None and r.status == 406, "Accept without message/cpim -> 406", r and r.summary())
r = sub("im", extra=["Accept: text/plain, message/*"])
c.ok(r is not None and r.status == 200, "Accept: message/* -> 200", r and r.summary())
r, _, _ = d.send_request("SUBSCRIBE", topic, headers=["Event: im", "Content-Type: text/plain"], body="x")
c.ok(r is not None and r.status == 415, "SUBSCRIBE with a body -> 415", r and r.summary())

r = d.subscribe(topic)
dl = d.dialogs[topic]
r2, _, _ = d.send_request("SUBSCRIBE", topic, call_id=dl["call_id"], cseq=5, from_tag=dl["from_tag"],
                          to="<%s>;tag=%s" % (topic, dl["to_tag"]), headers=["Event: im;id=nope"])
c.ok(r2 is not None and r2.status == 481, "refresh naming an id the dialog does not have -> 481",
     r2 and r2.summary())

# an Event id written with spaces is the same id at creation and in refreshes
r = d.subscribe(topic, event="im ; id = spaced")
c.ok(r is not None and r.status == 200, "Event: im ; id = spaced -> 200", r and r.summary())
dl = d.dialogs[topic]
dl["cseq"] += 1
r2, _, _ = d.send_request("SUBSCRIBE", topic, call_id=dl["call_id"], cseq=dl["cseq"], from_tag=dl["from_tag"],
                          to="<%s>;tag=%s" % (topic, dl["to_tag"]), headers=["Event: im;id=spaced", "Expires: 0"])
c.ok(r2 is not None and r2.status == 200, "unsubscribe naming the id without spaces -> 200", r2 and r2.summary())
r = sub("im;id=" + "x" * 200)
c.ok(r is not None and r.status == 400, "an Event id of 200 characters -> 400", r and r.summary())

# a percent-encoded CR LF in the sender's user part could forge header lines downstream: refused
inj = d.conn.request("MESSAGE", ruri=topic, user="x%0D%0AX-Injected%3A%20yes%0D%0AY",
                     headers=["Content-Type: text/plain"], body="x")
d.conn.send(inj)
cid = [l for l in inj.decode().split("\r\n") if l.startswith("Call-ID:")][0].split(": ", 1)[1]
r = d.wait_response(cid, "MESSAGE")
c.ok(r is not None and r.status == 403, "a sender AOR with an encoded CR LF -> 403", r and r.summary())
r = d.subscribe(topic)
c.ok(r is not None and r.status == 200, "subscribed again (id-less) for the large messages below")

r = d.publish(topic, "x", method="PUBLISH", extra=[])
c.ok(r is not None and r.status == 202 and r.get("im-seq") == "1",
     "PUBLISH Event: im to one's own topic -> 202 (the only subscriber is the sending device)",
     r and r.summary())
r, _, _ = d.send_request("PUBLISH", topic, headers=["Event: foo", "Content-Type: text/plain"], body="x")
c.ok(r is not None and r.status == 489, "PUBLISH Event: foo -> 489", r and r.summary())
r, _, _ = d.send_request("PUBLISH", topic, headers=["Event: im", "SIP-If-Match: abc",
                                                    "Content-Type: text/plain"], body="x")
c.ok(r is not None and r.status == 412, "PUBLISH with SIP-If-Match -> 412", r and r.summary())
r, _, _ = d.send_request("MESSAGE", topic)
c.ok(r is not None and r.status == 400, "MESSAGE without a body -> 400", r and r.summary())
r = d.publish(topic, "y" * (1024 * 1024 + 1))
c.ok(r is not None and r.status == 413, "MESSAGE of 1 MiB + 1 -> 413", r and r.summary())

# large messages: TCP whole, UDP truncated
u = Device("udp", host, port, erin, instance="urn:uuid:erin-udp-" + run)
r = u.subscribe(topic)
c.ok(r is not None and r.status == 200, "a UDP device subscribes")
u.pump(0.3)
d.pump(0.3)
n_tcp, n_udp = len(d.messages()), len(u.messages())
big = bytes((i * 7) % 251 for i in range(1024 * 1024))
sender = Device("tcp", host, port, "frank" + run)
r = sender.publish(topic, big, ctype="application/octet-stream")
c.ok(r is not None and r.status == 200, "1 MiB binary MESSAGE over TCP -> 200", r and r.summary())
d.wait_for(lambda: len(d.messages()) > n_tcp, timeout=10)
got = d.messages()[n_tcp:]
c.ok(len(got) == 1 and got[0].body == big and got[0].ctype == "application/octet-stream",
     "the TCP subscriber got the whole 1 MiB unchanged", [(len(x.body), x.ctype) for x in got])
u.wait_for(lambda: len(u.messages()) > n_udp, timeout=10)
ug = u.messages()[n_udp:]
ok = len(ug) == 1 and len(ug[0].msg.raw) <= 1300
c.ok(ok, "the UDP subscriber got a NOTIFY of at most 1300 octets", [len(x.msg.raw) for x in ug])
if ug:
    x = ug[0]
    c.ok(x.cpim_get("im.Truncated") == "%d application/octet-stream" % len(big),
         "im.Truncated: <octets> application/octet-stream", x.cpim)
    c.ok(got and x.seq == got[0].seq, "same im.Seq as the TCP copy", (x.seq, got and got[0].seq))
    c.ok(x.ctype == "text/plain;charset=UTF-8" and b"not delivered over UDP" in x.body,
         "the notice text", (x.ctype, x.body))
# and the next small message still reaches the UDP device (the notice was acknowledged)
sender.publish(topic, "small again")
u.wait_for(lambda: len(u.messages()) > n_udp + 1)
c.ok([m.body for m in u.messages()][-1:] == [b"small again"], "the UDP device continues after the notice")
for x in (d, u, sender):
    x.close()
c.done()
