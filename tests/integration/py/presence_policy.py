#!/usr/bin/env python3
"""presence_policy.py - one watcher's initial SUBSCRIBE (Event: presence) as the presence watch
policy answers it (docs/presence.md §6.1), against a sipd serving example.com.

    presence_policy.py TRANSPORT HOST PORT PRESENTITY WATCHER PASSWORD WANT [THEN]

PRESENTITY is a user of example.com ("alice"), WATCHER an AOR without scheme ("bob@example.org").
PASSWORD "-": none is given, so a challenge (401) is the final answer; else a 401 is answered
with SHA-256 digest credentials for WATCHER (auth_digest.py's) once. WANT: the final status
expected (200, 401 or 403). On 200 the first NOTIFY must come (active, a PIDF document for the
presentity) and the subscription is ended (Expires: 0); on 403 no NOTIFY may follow.
THEN (with WANT 200): a shell command run once subscribed (one that blocks WATCHER); then the
refresh must get 403, followed by a NOTIFY terminated;reason=rejected, and a later refresh 481.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from auth_digest import challenges, credentials  # noqa: E402
from presence_common import PIDF_TYPE, Watcher, entity_of, sub_state  # noqa: E402
from sipclient import Checker, show  # noqa: E402


class PolicyWatcher(Watcher):
    """A Watcher whose From is any AOR (the presence_common one has the presentity's domain)."""

    def __init__(self, transport, host, port, watcher, presentity):
        user, _, self.from_domain = watcher.partition("@")
        super().__init__(transport, host, port, user, presentity)
        self.auth = None  # the Authorization line to add, once challenged

    def _subscribe_bytes(self, expires, event, extra=()):
        extra = list(extra) + ([self.auth] if self.auth else [])
        data = super()._subscribe_bytes(expires, event, extra).decode()
        data = data.replace("From: <sip:%s@%s>" % (self.user, self.domain),
                            "From: <sip:%s@%s>" % (self.user, self.from_domain), 1)
        return data.encode()


def main(argv):
    transport, host, port, presentity, watcher, password, want = argv[:7]
    want = int(want)
    ck = Checker("presence_policy %s %s watches %s" % (transport, watcher, presentity))
    w = PolicyWatcher(transport, host, int(port), watcher, presentity)
    sent, r = w.subscribe(expires=60)
    if r is not None and r.status == 401 and password != "-":
        ch = [c for c in challenges(r) if c.get("algorithm") == "SHA-256"]
        if ck.ok(len(ch) == 1, "401 with a SHA-256 challenge", show(sent, r)):
            ruri = "sip:%s@%s" % (presentity, w.domain)
            w.auth = credentials(w.user, password, "SHA-256", ch[0]["nonce"], "SUBSCRIBE", ruri,
                                 realm=ch[0]["realm"])
            sent, r = w.subscribe(expires=60)
    got = r.status if r is not None else None
    ck.ok(got == want, "final answer %s (got %s)" % (want, got), show(sent, r))
    if want == 200 and got == 200:
        n = w.next_notify()
        ck.ok(n is not None and sub_state(n)[0] == "active" and
              (n.get("content-type") or "").startswith(PIDF_TYPE) and
              entity_of(n.body.decode()) == "sip:%s@%s" % (presentity, w.domain),
              "first NOTIFY: active, the presentity's PIDF document",
              n.summary() if n is not None else "(no NOTIFY)")
        w.auth = None
        if len(argv) > 7:
            ck.ok(subprocess.run(argv[7], shell=True).returncode == 0, "ran: %s" % argv[7])
            sent, r = w.refresh(60)
            ck.ok(r is not None and r.status == 403, "refresh once blocked: 403", show(sent, r))
            n = w.next_notify()
            st = sub_state(n) if n is not None else (None, {})
            ck.ok(st[0] == "terminated" and st[1].get("reason") == "rejected",
                  "then NOTIFY terminated;reason=rejected",
                  n.summary() if n is not None else "(no NOTIFY)")
            sent, r = w.refresh(60)
            ck.ok(r is not None and r.status == 481, "a later refresh: 481", show(sent, r))
        else:
            w.refresh(0)
    elif got is not None and got >= 300:
        ck.ok(w.no_notify(0.5), "no NOTIFY after %s" % got)
    w.close()
    ck.done()


if __name__ == "__main__":
    main(sys.argv[1:])
