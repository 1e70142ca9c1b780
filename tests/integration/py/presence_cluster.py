#!/usr/bin/env python3
"""presence_cluster.py TRANSPORT HOST PORT_A PORT_B APP_A - two nodes sharing one PostgreSQL
database.

A watcher subscribes on node A; the presentity's publications change on node B and on A:

  - PUBLISH open on B -> the watcher on A gets one NOTIFY open (A hears of the change through
    the database's announcement, channel sipd_pres, and reads the publications again);
  - refresh on B (no body) -> announced, but the document is the same: no NOTIFY;
  - a second publication made on A itself -> one NOTIFY, not a second one for A's own
    announcement; its removal on A likewise;
  - removal (Expires 0) on B -> NOTIFY closed;
  - a change written into the database without an announcement is not seen; once node A's
    listening backend (application_name APP_A, psql with the PG* environment) is terminated,
    A reconnects, re-reads every presentity it has watchers of and NOTIFYs that change.
"""
import os
import subprocess
import sys

from presence_common import Conn, Watcher, pidf, publish
from presence_flow import DOMAIN, closed_ok, doc_ok, uniq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, show  # noqa: E402

tr, host, app_a = sys.argv[1], sys.argv[2], sys.argv[5]
pa, pb = int(sys.argv[3]), int(sys.argv[4])
ck = Checker("presence_cluster/%s" % tr)
pres = uniq("pc", tr)
aor = "sip:%s@%s" % (pres, DOMAIN)
w = Watcher(tr, host, pa, uniq("wc", tr), pres)
pub_a = Conn(tr, host, pa)
pub_b = Conn(tr, host, pb)
ANNOUNCE_S = 5.0  # a NOTIFY caused by another node's change
QUIET_S = 1.5     # long enough for an announcement to come back and be acted on


def psql(sql):
    """The output of one statement through psql (PG* environment), stripped; None on failure."""
    r = subprocess.run(["psql", "-XtAc", sql], capture_output=True, text=True, timeout=20)
    return r.stdout.strip() if r.returncode == 0 else None


def missed():
    req, r = publish(pub_b, pres, body=pidf(aor, [("t3", "open", None)]), expires=60)
    ck.ok(r is not None and r.status == 200, "PUBLISH t3 open on node B -> 200", show(req, r))
    doc_ok(ck, w.next_notify(ANNOUNCE_S), "node A NOTIFYs t3 open", [("t3", "open")], aor)
    behind = pidf(aor, [("t3", "closed", "behind")]).replace("'", "''")
    out = psql("UPDATE presentities SET body = convert_to('%s', 'UTF8') WHERE aor = '%s'"
               % (behind, aor))
    ck.ok(out is not None, "the body changed in the database, without announcement", out)
    ck.ok(w.no_notify(QUIET_S), "a change that is not announced is not NOTIFYed",
          w.notifies and w.notifies[0].summary())
    out = psql("SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
               " WHERE application_name = '%s' AND query = 'LISTEN sipd_im'" % app_a)
    ck.ok(out == "1", "node A's listening backend terminated", out)
    doc_ok(ck, w.next_notify(ANNOUNCE_S),
           "node A listens again, re-reads, NOTIFYs what it missed", [("t3", "closed", "behind")],
           aor)
    ck.ok(w.no_notify(QUIET_S), "one NOTIFY for the re-read", w.notifies and w.notifies[0].summary())


def main():
    req, r = w.subscribe(expires=60)
    if not ck.ok(r is not None and r.status == 200, "SUBSCRIBE on node A -> 200", show(req, r)):
        return
    closed_ok(ck, w.next_notify(), "initial NOTIFY: closed", aor)

    req, r = publish(pub_b, pres, body=pidf(aor, [("t1", "open", None)]), expires=60)
    ok = ck.ok(r is not None and r.status == 200 and r.get("sip-etag"),
               "PUBLISH open on node B -> 200 with SIP-ETag", show(req, r))
    etag_b = r.get("sip-etag") if ok else "none"
    doc_ok(ck, w.next_notify(ANNOUNCE_S), "node A NOTIFYs the change made on node B",
           [("t1", "open")], aor)
    ck.ok(w.no_notify(QUIET_S), "one NOTIFY for one change on node B",
          w.notifies and w.notifies[0].summary())

    req, r = publish(pub_b, pres, etag=etag_b, expires=60)
    ok = ck.ok(r is not None and r.status == 200 and r.get("sip-etag"),
               "refresh on node B -> 200 with SIP-ETag", show(req, r))
    etag_b = r.get("sip-etag") if ok else "none"
    ck.ok(w.no_notify(QUIET_S), "refresh on node B changes nothing: no NOTIFY",
          w.notifies and w.notifies[0].summary())

    req, r = publish(pub_a, pres, body=pidf(aor, [("t2", "open", "on a")]), expires=60)
    ok = ck.ok(r is not None and r.status == 200 and r.get("sip-etag"),
               "PUBLISH on node A -> 200 with SIP-ETag", show(req, r))
    etag_a = r.get("sip-etag") if ok else "none"
    doc_ok(ck, w.next_notify(), "NOTIFY of the change made on node A",
           [("t2", "open", "on a"), ("t1", "open")], aor)
    ck.ok(w.no_notify(QUIET_S), "no second NOTIFY for node A's own announcement",
          w.notifies and w.notifies[0].summary())

    req, r = publish(pub_a, pres, etag=etag_a, expires=0)
    ck.ok(r is not None and r.status == 200, "remove on node A -> 200", show(req, r))
    doc_ok(ck, w.next_notify(), "NOTIFY of the removal on node A", [("t1", "open")], aor)
    ck.ok(w.no_notify(QUIET_S), "no second NOTIFY for the removal's announcement",
          w.notifies and w.notifies[0].summary())

    req, r = publish(pub_b, pres, etag=etag_b, expires=0)
    ck.ok(r is not None and r.status == 200 and r.get("expires") == "0",
          "remove (Expires: 0) on node B -> 200 Expires: 0", show(req, r))
    closed_ok(ck, w.next_notify(ANNOUNCE_S), "node A NOTIFYs the removal on node B: closed", aor)
    ck.ok(w.no_notify(QUIET_S), "one NOTIFY for the removal on node B",
          w.notifies and w.notifies[0].summary())
    missed()


try:
    main()
finally:
    for c in (w, pub_a, pub_b):
        c.close()
ck.done()
