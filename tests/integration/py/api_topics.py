#!/usr/bin/env python3
"""api_topics.py TRANSPORT HOST PORT API_URL TOKEN PREFIX [POST_URL [SUBS_URL]] - the REST API's topics,
members, messages and subscriptions with real devices (docs/api.md "Topics, subscriptions,
messages").

A group is made through the API with alice as its member; alice's device subscribes (Event: im)
and receives, by NOTIFY, the notices posted through POST .../messages with the seqs the API
answered (POST_URL: the API that posts them, e.g. a node without the broker role; default
API_URL). Then (also through SUBS_URL when given, e.g. a node that reads the rows of other brokers): the messages list by after/limit with next; subscriptions by topic and by user
show alice's device with its acknowledged seq; adding carol lets her subscribe (403 before);
removing alice ends her subscription (rejected) and she gets 403; deleting the group ends
carol's (noresource) and the topic is 404. A notice to bob's user topic reaches bob's
registered device (no subscription) as a page-mode MESSAGE.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Device  # noqa: E402

transport, host, port, api, token, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    sys.argv[4], sys.argv[5], sys.argv[6]
post_api = sys.argv[7] if len(sys.argv) > 7 else api
subs_apis = [api] + sys.argv[8:9]
c = Checker("api topics/%s" % transport)
DOMAIN = "example.com"
team = "sip:team-%s@%s" % (prefix, DOMAIN)
alice_aor = "sip:%salice@%s" % (prefix, DOMAIN)
carol_aor = "sip:%scarol@%s" % (prefix, DOMAIN)
q = urllib.parse.quote


def call(method, path, body=None, base=None):
    """(status, parsed JSON or None)"""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request((base or api) + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw else None


def until(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


st, j = call("POST", "/api/v1/topics", {"topic": team, "members": [alice_aor]})
c.ok(st == 201 and j["kind"] == "group" and j["members"] == [alice_aor] and j["last_seq"] == 0,
     "POST /topics makes the group with its member", (st, j))

alice = Device(transport, host, port, prefix + "alice", instance="urn:uuid:%s-alice" % prefix)
carol = Device(transport, host, port, prefix + "carol", instance="urn:uuid:%s-carol" % prefix)
r = alice.subscribe(team)
c.ok(r is not None and r.status == 200, "the member's device subscribes to the group made by the API",
     r and r.status)
c.ok(alice.wait_for(lambda: len(alice.bodyless()) >= 1), "... and gets the initial NOTIFY")

# a user topic with a subscription but no message is listed too (kind user, last_seq 0)
r = alice.subscribe(alice_aor)
c.ok(r is not None and r.status == 200, "alice subscribes to her own topic", r and r.status)
st, j = call("GET", "/api/v1/topics?limit=1000")
mine = [t for t in (j or {}).get("items", []) if t["topic"] == alice_aor]
c.ok(st == 200 and mine == [{"topic": alice_aor, "kind": "user", "last_seq": 0, "members": 0}],
     "GET /topics lists a user topic that has only a subscription", (st, mine))
r = alice.refresh(alice_aor, expires=0)
c.ok(r is not None and r.status == 200, "... and she unsubscribes", r and r.status)
alice.wait_for(lambda: sum("terminated" in b.sub_state for b in alice.bodyless()) >= 1)
alice.received = [x for x in alice.received if "terminated" not in x.sub_state]

seqs = []
for text in ("notice one", "notice two", "notice three"):
    st, j = call("POST", "/api/v1/topics/%s/messages" % q(team, safe=""), {"body": text},
                 base=post_api)
    c.ok(st == 201 and isinstance(j.get("seq"), int), "POST .../messages answers 201 with a seq",
         (st, j))
    seqs.append(j and j.get("seq"))
c.ok(seqs == [1, 2, 3], "the notices get seqs 1, 2, 3", seqs)
c.ok(alice.wait_for(lambda: len(alice.messages()) >= 3, timeout=8),
     "the member's device receives the three notices by NOTIFY",
     [m.seq for m in alice.messages()])
got = alice.messages()
c.ok([m.seq for m in got] == seqs, "... with the seqs the API answered", [m.seq for m in got])
c.ok([m.body for m in got] == [b"notice one", b"notice two", b"notice three"], "... and the bodies",
     [m.body for m in got])
c.ok(got and got[0].cpim_get("From") == "<sip:system@localhost>",
     "... sent from api.notice_from (default sip:system@localhost)", got and got[0].cpim)

st, j = call("GET", "/api/v1/topics/%s/messages?after=0&limit=2" % q(team, safe=""))
c.ok(st == 200 and [m["seq"] for m in j["items"]] == [1, 2] and j["next"],
     "GET .../messages?after=0&limit=2: seqs 1, 2 and a next page", (st, j))
c.ok(st == 200 and j["items"][0]["body"] == "notice one" and
     j["items"][0]["from"] == "sip:system@localhost" and j["items"][0]["content_type"] == "text/plain"
     and j["items"][0]["time_ms"] > 0, "... with body, from, content_type, time_ms", j)
if st == 200 and j["next"]:
    st, j = call("GET", j["next"])
    c.ok(st == 200 and [m["seq"] for m in j["items"]] == [3] and j["next"] is None,
         "following next: seq 3 and no next page", (st, j))
st, j = call("GET", "/api/v1/topics/%s/messages?after=3" % q(team, safe=""))
c.ok(st == 200 and j["items"] == [] and j["next"] is None, "after the last seq: no items", (st, j))


def alice_sub(path, base):
    st, j = call("GET", path, base=base)
    if st != 200:
        return None
    mine = [s for s in j["items"] if s["aor"] == alice_aor and s["topic"] == team]
    return mine[0] if len(mine) == 1 else None


for base, what, path in [(b, w, p) for b in subs_apis for w, p in (
        ("topic", "/api/v1/subscriptions?topic=" + q(team, safe="")),
        ("user", "/api/v1/subscriptions?user=" + q(alice_aor, safe="")))]:
    ok = until(lambda: (alice_sub(path, base) or {}).get("acked_seq") == 3)
    s = alice_sub(path, base)
    c.ok(ok, "subscriptions by %s (%s) show alice's device with acked_seq 3" % (what, base), s)
    c.ok(s is not None and s["device"] == "urn:uuid:%s-alice" % prefix and s["state"] == "active"
         and 0 < s["expires_s"] <= 600 and "node" in s, "... device, state, expires_s, node", s)

# members: carol may subscribe only once added
r = carol.subscribe(team)
c.ok(r is not None and r.status == 403, "a non-member's SUBSCRIBE is 403", r and r.status)
st, j = call("POST", "/api/v1/topics/%s/members" % q(team, safe=""), {"member": carol_aor})
c.ok(st == 200 and sorted(j["members"]) == sorted([alice_aor, carol_aor]),
     "POST .../members adds carol", (st, j))
r = carol.subscribe(team)
c.ok(r is not None and r.status == 200, "the added member's SUBSCRIBE is 200", r and r.status)

# two subscriptions on the topic now: one per page, the second through "next"
st, j = call("GET", "/api/v1/subscriptions?topic=%s&limit=1" % q(team, safe=""))
c.ok(st == 200 and len(j["items"]) == 1 and j["next"], "subscriptions?limit=1: one and a next page",
     (st, j))
if st == 200 and j["next"]:
    first = j["items"][0]["aor"]
    st, j = call("GET", j["next"])
    c.ok(st == 200 and len(j["items"]) >= 1 and j["items"][0]["aor"] != first and
         sorted([first, j["items"][0]["aor"]]) == sorted([alice_aor, carol_aor]),
         "following next: the other member's subscription", (st, j))

st, j = call("DELETE", "/api/v1/topics/%s/members/%s" % (q(team, safe=""), q(alice_aor, safe="")))
c.ok(st == 200 and j["members"] == [carol_aor], "DELETE .../members/alice removes her", (st, j))
c.ok(alice.wait_for(lambda: any("terminated" in b.sub_state for b in alice.bodyless())),
     "alice's subscription ends", [b.sub_state for b in alice.bodyless()])
ended = [b.sub_state for b in alice.bodyless() if "terminated" in b.sub_state]
c.ok(ended and "rejected" in ended[0], "... with reason=rejected", ended)
r = alice.subscribe(team)
c.ok(r is not None and r.status == 403, "the removed member's SUBSCRIBE is 403", r and r.status)

st, j = call("DELETE", "/api/v1/topics/%s" % q(team, safe=""))
c.ok(st == 204, "DELETE the group: 204", (st, j))
c.ok(carol.wait_for(lambda: any("noresource" in b.sub_state for b in carol.bodyless())),
     "the remaining member's subscription ends with reason=noresource",
     [b.sub_state for b in carol.bodyless()])
st, j = call("GET", "/api/v1/topics/%s" % q(team, safe=""))
c.ok(st == 404, "the deleted group is 404", (st, j))

# page mode: a registered device without a subscription gets the notice as a MESSAGE
bob = Device(transport, host, port, prefix + "bob", instance="urn:uuid:%s-bob" % prefix)
r = bob.register()
c.ok(r is not None and r.status == 200, "bob registers", r and r.status)
bob_aor = "sip:%sbob@%s" % (prefix, DOMAIN)
st, j = call("POST", "/api/v1/topics/%s/messages" % q(bob_aor, safe=""),
             {"body": "page for bob", "content_type": "text/plain;charset=UTF-8",
              "from": "sip:ops@%s" % DOMAIN}, base=post_api)
c.ok(st == 201 and j["seq"] == 1, "a notice to bob's user topic: 201 seq 1", (st, j))
if post_api == api:
    c.ok(bob.wait_for(lambda: len(bob.pages()) >= 1), "bob's device gets it as a page-mode MESSAGE")
    p = bob.pages()
    c.ok(p and p[0].body == b"page for bob" and "sip:ops@" in (p[0].msg.get("from") or ""),
         "... with the body and the given sender", p and (p[0].body, p[0].msg.get("from")))

for d in (alice, carol, bob):
    d.close()
c.done()
