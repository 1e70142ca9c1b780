#!/usr/bin/env python3
"""presence_flow.py - scenarios of the presence package against a running sipd.

    presence_flow.py SCENARIO TRANSPORT HOST PORT [READY_FILE]

sipd must run with broker.presence_publish_min_expires=2 and broker.presence_min_expires=2.
Scenarios (each with fresh users, so they can share one daemon):

  basic     SUBSCRIBE -> 200 + NOTIFY closed; PUBLISH open -> 200 SIP-ETag -> NOTIFY open;
            refresh (SIP-If-Match, no body) -> new etag, no NOTIFY; modify -> NOTIFY; stale and
            unknown etag -> 412; remove (Expires 0) -> NOTIFY closed; in-dialog refresh -> 200 +
            NOTIFY; unsubscribe (Expires 0) -> 200 + NOTIFY terminated;reason=timeout; then 481.
  errors    489 with Allow-Events (unknown/missing Event on PUBLISH), 400 (initial PUBLISH without
            body, body not PIDF), 415, 406, 423 with Min-Expires (PUBLISH and SUBSCRIBE), a
            foreign domain not accepted.
  bad_event (a node without the proxy role) SUBSCRIBE for an unknown package -> 489 with
            Allow-Events: im, presence; SUBSCRIBE without Event -> 400; PUBLISH Event: dialog -> 489.
  expiry    a publication of 2 s expires -> NOTIFY closed; its etag then gets 412; a
            subscription of 2 s ends with NOTIFY terminated;reason=timeout.
  compose   two publishers of one presentity -> one document with both tuples, newest first;
            a duplicate tuple id keeps the newest; removing one leaves the other.
  reject    a watcher answering 481 to a NOTIFY loses its subscription (no further NOTIFY).
  fetch     SUBSCRIBE with Expires 0 -> 200 Expires 0 + one NOTIFY terminated with the state.
  shutdown  subscribe, touch READY_FILE, then wait (15 s at most) for the NOTIFY
            terminated;reason=deactivated that sipd sends when it is stopped.
"""

import os
import sys
import time

from presence_common import (PIDF_NS, PIDF_TYPE, Watcher, entity_of, grep_header, pidf,
                             publish, sub_state, tuples_of)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Conn, show  # noqa: E402

DOMAIN = "example.com"


def uniq(prefix, transport):
    return "%s%s%d%04d" % (prefix, transport, os.getpid(), int(time.monotonic() * 1000) % 10000)


def doc_ok(ck, n, what, expect_tuples, entity):
    """n is a NOTIFY whose pidf must list exactly expect_tuples [(id, basic[, note])]."""
    if not ck.ok(n is not None, what + ": NOTIFY received"):
        return
    ck.ok(grep_header(n, "event", r"^presence\b"), what + ": Event: presence", n.summary())
    ck.ok((n.get("content-type") or "").lower().startswith(PIDF_TYPE),
          what + ": Content-Type application/pidf+xml", n.summary())
    try:
        got = tuples_of(n.body)
        ent = entity_of(n.body)
    except Exception as e:  # noqa: BLE001 - any parse failure is a test failure
        ck.ok(False, what + ": body is well-formed PIDF (%s)" % e, n.summary())
        return
    ck.ok(ent == entity, what + ": entity is %s" % entity, n.summary())
    cmp = [t[:len(e)] for t, e in zip(got, expect_tuples)]
    ck.ok(len(got) == len(expect_tuples) and cmp == [tuple(e) for e in expect_tuples],
          what + ": tuples %r" % (expect_tuples,), "got %r\n%s" % (got, n.summary()))


def closed_ok(ck, n, what, entity):
    doc_ok(ck, n, what, [("sipd-closed", "closed")], entity)


def active_ok(ck, n, what, max_expires):
    if n is None:
        return
    state, params = sub_state(n)
    ck.ok(state == "active" and 0 < int(params.get("expires", "0") or 0) <= max_expires,
          what + ": Subscription-State active;expires in 1..%d" % max_expires, n.summary())


def answered(ck, req, r, status, what, headers=()):
    """One check that r answers req with `status`, then one per (name, regex, what) of headers
    that r must carry."""
    ck.ok(r is not None and r.status == status, what, show(req, r))
    for name, pattern, hwhat in headers:
        ck.ok(grep_header(r, name, pattern), hwhat, show(req, r))


def watching(ck, w, aor, first):
    """w SUBSCRIBEs for 60 s -> 200, then its first NOTIFY (named `first`) is closed, as nothing
    is published yet. False when the SUBSCRIBE failed (the scenario stops)."""
    req, r = w.subscribe(expires=60)
    if not ck.ok(r is not None and r.status == 200, "SUBSCRIBE -> 200", show(req, r)):
        return False
    closed_ok(ck, w.next_notify(), first, aor)
    return True


# Requests the package rejects, as rows: (what, SUBSCRIBE or PUBLISH, arguments of
# Watcher.subscribe() or publish() -- BODY stands for a valid PIDF document of the presentity --,
# the status, headers the answer must carry as (name, regex, what)).
BODY = object()
MIN_EXPIRES_2 = ("min-expires", r"^2$", "... with Min-Expires: 2")

# errors: before any dialog exists (RFC 6665 §4.2.1, RFC 3856 §6.7)
SUBSCRIBE_REJECTIONS = [
    ("SUBSCRIBE Expires: 1 -> 423", "SUBSCRIBE", dict(expires=1), 423, [MIN_EXPIRES_2]),
    ("SUBSCRIBE accepting only text/plain -> 406", "SUBSCRIBE",
     dict(extra=["Accept: text/plain"]), 406, []),
]

# errors: RFC 3903 §6, in the order the checks are made
PUBLISH_REJECTIONS = [
    ("PUBLISH Event: dialog -> 489", "PUBLISH", dict(body=BODY, event="dialog"), 489,
     [("allow-events", r"\bpresence\b", "489 has Allow-Events: ... presence")]),
    ("PUBLISH without Event -> 489", "PUBLISH", dict(body=BODY, event=None), 489, []),
    ("initial PUBLISH without body -> 400", "PUBLISH", dict(expires=60), 400, []),
    ("PUBLISH Expires: 1 -> 423", "PUBLISH", dict(body=BODY, expires=1), 423, [MIN_EXPIRES_2]),
    ("PUBLISH text/plain -> 415", "PUBLISH", dict(body="hello", ctype="text/plain", expires=60),
     415, [("accept", "pidf", "... with Accept: application/pidf+xml")]),
    ("PUBLISH of malformed PIDF -> 400", "PUBLISH",
     dict(body="<presence xmlns='%s'><tuple id='a'>" % PIDF_NS, expires=60), 400, []),
    ("PUBLISH of XML that is not PIDF -> 400", "PUBLISH",
     dict(body="<foo xmlns='urn:x'/>", expires=60), 400, []),
]

# bad_event: on a node without the proxy role, other packages are the broker's to reject
OTHER_PACKAGE_REJECTIONS = [
    ("SUBSCRIBE Event: dialog -> 489", "SUBSCRIBE", dict(event="dialog"), 489,
     [("allow-events", r"\bpresence\b", "489 has Allow-Events: ... presence"),
      ("allow-events", r"\bim\b", "489 has Allow-Events: im, ...")]),
    ("SUBSCRIBE without Event -> 400", "SUBSCRIBE", dict(event=None), 400, []),
    ("PUBLISH Event: dialog -> 489", "PUBLISH", dict(body="x", ctype="text/plain", event="dialog"),
     489, []),
]


def rejections(ck, rows, w, conn, pres, body):
    """Send every row's request (SUBSCRIBEs from watcher w, PUBLISHes on conn) and check its
    answer."""
    for what, method, args, status, headers in rows:
        args = {k: body if v is BODY else v for k, v in args.items()}
        if method == "SUBSCRIBE":
            req, r = w.subscribe(**args)
        else:
            req, r = publish(conn, pres, **args)
        answered(ck, req, r, status, what, headers)


def basic(ck, tr, host, port):
    pres = uniq("pb", tr)
    aor = "sip:%s@%s" % (pres, DOMAIN)
    w = Watcher(tr, host, port, uniq("wb", tr), pres)
    pub = Conn(tr, host, port)
    try:
        req, r = w.subscribe(expires=60)
        ok = ck.ok(r is not None and r.status == 200, "SUBSCRIBE -> 200", show(req, r))
        if not ok:
            return
        ck.ok(r.to_tag() is not None, "200 has a To tag", show(req, r))
        ck.ok(r.get("expires") is not None and 0 < int(r.get("expires")) <= 60,
              "200 has Expires <= 60", show(req, r))
        ck.ok(len(r.contacts()) == 1, "200 has a Contact", show(req, r))
        ck.ok(grep_header(r, "allow-events", r"\bpresence\b") and
              grep_header(r, "allow-events", r"\bim\b"), "200 has Allow-Events: im, presence",
              show(req, r))
        n = w.next_notify()
        closed_ok(ck, n, "initial NOTIFY: no publication = closed", aor)
        active_ok(ck, n, "initial NOTIFY", 60)

        body = pidf(aor, [("t1", "open", None)])
        req, r = publish(pub, pres, body=body, expires=60)
        ok = ck.ok(r is not None and r.status == 200 and r.get("sip-etag"),
                   "PUBLISH open -> 200 with SIP-ETag", show(req, r))
        ck.ok(r is not None and r.get("expires") == "60", "PUBLISH 200 has Expires: 60",
              show(req, r))
        etag1 = r.get("sip-etag") if ok else "none"
        n = w.next_notify()
        doc_ok(ck, n, "NOTIFY after PUBLISH open", [("t1", "open")], aor)
        active_ok(ck, n, "NOTIFY after PUBLISH", 60)

        req, r = publish(pub, pres, etag=etag1, expires=30)
        ok = ck.ok(r is not None and r.status == 200 and r.get("sip-etag"),
                   "refresh (SIP-If-Match, no body) -> 200 with SIP-ETag", show(req, r))
        ck.ok(r is not None and r.get("expires") == "30", "refresh 200 has Expires: 30",
              show(req, r))
        etag2 = r.get("sip-etag") if ok else "none"
        ck.ok(etag2 != etag1, "refresh gives a new entity-tag", show(req, r))
        ck.ok(w.no_notify(1.0), "refresh changes nothing: no NOTIFY", w.notifies and w.notifies[0].summary())

        body = pidf(aor, [("t1", "open", "in a meeting")])
        req, r = publish(pub, pres, body=body, etag=etag2, expires=60)
        ok = ck.ok(r is not None and r.status == 200 and r.get("sip-etag"),
                   "modify (SIP-If-Match + body) -> 200 with SIP-ETag", show(req, r))
        etag3 = r.get("sip-etag") if ok else "none"
        doc_ok(ck, w.next_notify(), "NOTIFY after modify", [("t1", "open", "in a meeting")], aor)

        # entity-tags that name no live publication (RFC 3903 §6 step 4): (what, arguments)
        for what, args in [
                ("stale entity-tag (replaced by a refresh) -> 412", dict(etag=etag1)),
                ("unknown entity-tag -> 412", dict(etag="nosuchetag0123")),
                ("modify with a stale entity-tag -> 412",
                 dict(body=pidf(aor, [("t9", "open", None)]), etag=etag2))]:
            req, r = publish(pub, pres, expires=60, **args)
            answered(ck, req, r, 412, what)
        ck.ok(w.no_notify(0.5), "failed PUBLISHes change nothing: no NOTIFY")

        req, r = publish(pub, pres, etag=etag3, expires=0)
        ck.ok(r is not None and r.status == 200 and r.get("expires") == "0",
              "remove (SIP-If-Match, Expires: 0) -> 200 Expires: 0", show(req, r))
        closed_ok(ck, w.next_notify(), "NOTIFY after remove: closed", aor)
        req, r = publish(pub, pres, etag=etag3, expires=60)
        ck.ok(r is not None and r.status == 412, "refresh of a removed publication -> 412",
              show(req, r))

        req, r = w.refresh(30)
        ck.ok(r is not None and r.status == 200 and r.get("expires") == "30",
              "in-dialog SUBSCRIBE refresh -> 200 Expires: 30", show(req, r))
        n = w.next_notify()
        closed_ok(ck, n, "NOTIFY after the refresh", aor)
        active_ok(ck, n, "NOTIFY after the refresh", 30)

        req, r = w.refresh(0)
        ck.ok(r is not None and r.status == 200 and r.get("expires") == "0",
              "unsubscribe (Expires: 0) -> 200 Expires: 0", show(req, r))
        n = w.next_notify()
        ck.ok(n is not None and sub_state(n) == ("terminated", {"reason": "timeout"}),
              "final NOTIFY: Subscription-State terminated;reason=timeout",
              n.summary() if n else "(none)")
        req, r = w.refresh(60)
        ck.ok(r is not None and r.status == 481, "a refresh after the unsubscribe -> 481",
              show(req, r))
        body = pidf(aor, [("t1", "open", None)])
        req, r = publish(pub, pres, body=body, expires=60)
        ck.ok(r is not None and r.status == 200, "PUBLISH after the unsubscribe -> 200",
              show(req, r))
        ck.ok(w.no_notify(1.0), "no NOTIFY reaches a watcher that unsubscribed")
    finally:
        w.close()
        pub.close()


def errors(ck, tr, host, port):
    pres = uniq("pe", tr)
    aor = "sip:%s@%s" % (pres, DOMAIN)
    c = Conn(tr, host, port)
    body = pidf(aor, [("t1", "open", None)])
    try:
        w = Watcher(tr, host, port, uniq("we", tr), pres)
        rejections(ck, SUBSCRIBE_REJECTIONS, w, c, pres, body)
        ck.ok(w.no_notify(0.3), "no NOTIFY for rejected SUBSCRIBEs")
        w.close()

        rejections(ck, PUBLISH_REJECTIONS, w, c, pres, body)
        # not ours: the proxy forwards it (its answer then waits on DNS for elsewhere.example.org,
        # which may take longer than this wait) or refuses it; the presence package never takes it
        req, r = publish(c, pres, domain="elsewhere.example.org", body=body, expires=60)
        ck.ok(r is None or r.status >= 300,
              "PUBLISH for a domain not ours is not accepted (no 2xx: forwarded or refused)",
              show(req, r))
    finally:
        c.close()


def bad_event(ck, tr, host, port):
    """Run against a node that does not proxy (roles registrar,broker): SUBSCRIBEs for other
    packages are then the broker's to reject (a proxy forwards them to the user's devices)."""
    pres = uniq("pv", tr)
    w = Watcher(tr, host, port, uniq("wv", tr), pres)
    c = Conn(tr, host, port)
    try:
        rejections(ck, OTHER_PACKAGE_REJECTIONS, w, c, pres, None)
        ck.ok(w.no_notify(0.3), "no NOTIFY for rejected SUBSCRIBEs")
    finally:
        w.close()
        c.close()


def expiry(ck, tr, host, port):
    pres = uniq("px", tr)
    aor = "sip:%s@%s" % (pres, DOMAIN)
    w = Watcher(tr, host, port, uniq("wx", tr), pres)
    pub = Conn(tr, host, port)
    try:
        if not watching(ck, w, aor, "initial NOTIFY closed"):
            return
        req, r = publish(pub, pres, body=pidf(aor, [("t1", "open", None)]), expires=2)
        ok = ck.ok(r is not None and r.status == 200 and r.get("expires") == "2",
                   "PUBLISH Expires: 2 -> 200 Expires: 2", show(req, r))
        etag = r.get("sip-etag") if ok else "none"
        t0 = time.monotonic()
        doc_ok(ck, w.next_notify(), "NOTIFY open", [("t1", "open")], aor)
        n = w.next_notify(timeout=6.0)
        dt = time.monotonic() - t0
        closed_ok(ck, n, "NOTIFY closed when the publication expires", aor)
        # expiry times are whole seconds and the tick runs once a second: 1..3 s after
        ck.ok(n is None or 0.9 <= dt <= 4.0, "... about 2 s after the PUBLISH (%.1f s)" % dt)
        req, r = publish(pub, pres, etag=etag, expires=60)
        ck.ok(r is not None and r.status == 412, "refresh of the expired publication -> 412",
              show(req, r))

        w2 = Watcher(tr, host, port, uniq("wy", tr), pres)
        req, r = w2.subscribe(expires=2)
        ck.ok(r is not None and r.status == 200 and r.get("expires") == "2",
              "SUBSCRIBE Expires: 2 -> 200 Expires: 2", show(req, r))
        closed_ok(ck, w2.next_notify(), "second watcher: initial NOTIFY", aor)
        t0 = time.monotonic()
        n = w2.next_notify(timeout=6.0)
        dt = time.monotonic() - t0
        ck.ok(n is not None and sub_state(n) == ("terminated", {"reason": "timeout"}),
              "subscription expiry -> NOTIFY terminated;reason=timeout",
              n.summary() if n else "(none)")
        ck.ok(n is None or 0.9 <= dt <= 4.0, "... about 2 s after the SUBSCRIBE (%.1f s)" % dt)
        w2.close()
    finally:
        w.close()
        pub.close()


def compose(ck, tr, host, port):
    pres = uniq("pc", tr)
    aor = "sip:%s@%s" % (pres, DOMAIN)
    w = Watcher(tr, host, port, uniq("wc", tr), pres)
    a = Conn(tr, host, port)
    b = Conn(tr, host, port)
    try:
        if not watching(ck, w, aor, "initial NOTIFY closed"):
            return
        req, r = publish(a, pres, body=pidf(aor, [("pc", "open", "desk")]), expires=60)
        ok = ck.ok(r is not None and r.status == 200, "publisher A -> 200", show(req, r))
        etag_a = r.get("sip-etag") if ok else "none"
        doc_ok(ck, w.next_notify(), "A's document", [("pc", "open", "desk")], aor)
        time.sleep(1.1)  # publications are ordered by their time in seconds
        dm = ' xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"'
        body_b = pidf(aor, [("phone", "closed", "in a call")], extra_ns=dm).replace(
            "</presence>", '<dm:person id="p1"/></presence>')
        req, r = publish(b, pres, body=body_b, expires=60)
        ok = ck.ok(r is not None and r.status == 200, "publisher B (with a dm:person) -> 200",
                   show(req, r))
        etag_b = r.get("sip-etag") if ok else "none"
        doc_ok(ck, w.next_notify(), "both documents combined, newest (B) first",
               [("phone", "closed", "in a call"), ("pc", "open", "desk")], aor)
        time.sleep(1.1)
        req, r = publish(a, pres, body=pidf(aor, [("phone", "open", "A's phone")]),
                         etag=etag_a, expires=60)
        ok = ck.ok(r is not None and r.status == 200, "A modifies: now tuple id 'phone' as B",
                   show(req, r))
        etag_a = r.get("sip-etag") if ok else "none"
        doc_ok(ck, w.next_notify(), "a tuple id used twice: the newest publication's wins",
               [("phone", "open", "A's phone")], aor)
        req, r = publish(a, pres, etag=etag_a, expires=0)
        ck.ok(r is not None and r.status == 200, "A removes its publication -> 200", show(req, r))
        doc_ok(ck, w.next_notify(), "only B's tuple is left", [("phone", "closed", "in a call")],
               aor)
        req, r = publish(b, pres, etag=etag_b, expires=0)
        ck.ok(r is not None and r.status == 200, "B removes its publication -> 200", show(req, r))
        closed_ok(ck, w.next_notify(), "nothing left: closed", aor)
    finally:
        w.close()
        a.close()
        b.close()


def reject(ck, tr, host, port):
    pres = uniq("pr", tr)
    aor = "sip:%s@%s" % (pres, DOMAIN)
    w = Watcher(tr, host, port, uniq("wr", tr), pres)
    pub = Conn(tr, host, port)
    try:
        w.answer_code = 481
        if not watching(ck, w, aor, "initial NOTIFY (answered 481)"):
            return
        time.sleep(0.3)
        req, r = publish(pub, pres, body=pidf(aor, [("t1", "open", None)]), expires=60)
        ck.ok(r is not None and r.status == 200, "PUBLISH -> 200", show(req, r))
        ck.ok(w.no_notify(1.5), "no NOTIFY after a 481: the subscription is gone",
              w.notifies and w.notifies[0].summary())
        req, r = w.refresh(60)
        ck.ok(r is None or r.status != 200, "its refresh is not accepted", show(req, r))
    finally:
        w.close()
        pub.close()


def fetch(ck, tr, host, port):
    pres = uniq("pf", tr)
    aor = "sip:%s@%s" % (pres, DOMAIN)
    pub = Conn(tr, host, port)
    w = Watcher(tr, host, port, uniq("wf", tr), pres)
    try:
        req, r = publish(pub, pres, body=pidf(aor, [("t1", "open", "here")]), expires=60)
        ck.ok(r is not None and r.status == 200, "PUBLISH -> 200", show(req, r))
        req, r = w.subscribe(expires=0)
        ck.ok(r is not None and r.status == 200 and r.get("expires") == "0",
              "fetch: SUBSCRIBE Expires: 0 -> 200 Expires: 0", show(req, r))
        n = w.next_notify()
        ck.ok(n is not None and sub_state(n) == ("terminated", {"reason": "timeout"}),
              "fetch NOTIFY: terminated;reason=timeout", n.summary() if n else "(none)")
        doc_ok(ck, n, "fetch NOTIFY carries the state", [("t1", "open", "here")], aor)
        ck.ok(w.no_notify(0.5), "nothing after the fetch NOTIFY")
    finally:
        w.close()
        pub.close()


def shutdown(ck, tr, host, port, ready_file):
    pres = uniq("ps", tr)
    aor = "sip:%s@%s" % (pres, DOMAIN)
    w = Watcher(tr, host, port, uniq("ws", tr), pres)
    try:
        if not watching(ck, w, aor, "initial NOTIFY"):
            return
        with open(ready_file, "w") as f:
            f.write("ready\n")
        n = w.next_notify(timeout=15.0)
        ck.ok(n is not None and sub_state(n) == ("terminated", {"reason": "deactivated"}),
              "sipd stopping -> NOTIFY terminated;reason=deactivated",
              n.summary() if n else "(none)")
    finally:
        w.close()


def main(argv):
    scen, tr, host, port = argv[0], argv[1], argv[2], int(argv[3])
    ck = Checker("presence_%s/%s" % (scen, tr))
    if scen == "shutdown":
        shutdown(ck, tr, host, port, argv[4])
    else:
        {"basic": basic, "errors": errors, "bad_event": bad_event, "expiry": expiry, "compose": compose,
         "reject": reject, "fetch": fetch}[scen](ck, tr, host, port)
    ck.done()


if __name__ == "__main__":
    main(sys.argv[1:])
