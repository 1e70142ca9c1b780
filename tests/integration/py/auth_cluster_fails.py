#!/usr/bin/env python3
"""auth_cluster_fails.py - failed attempts through a balancer (docs/auth.md "Failed attempts"):
the node that authenticates sees every attempt coming from the balancer, and must not throttle
the balancer as one source. Against a balancer in front of a registrar with auth on,
limits.exempt empty and auth.fail_burst=3:

    auth_cluster_fails.py TRANSPORT HOST PORT PW_ALICE

six clients (127.0.0.11 .. .16) each guess the password of a different unknown user once: 401
each (no 503: the registrar does not count them against the balancer's address); then alice's
right password from 127.0.0.17: 200."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from auth_limits import attempt, client_from  # noqa: E402
from sipclient import Checker, show  # noqa: E402


def main(argv):
    transport, host, port, pw_alice = argv[:4]
    ck = Checker("auth_cluster_fails %s" % transport)
    for i in range(6):
        src = "127.0.0.%d" % (11 + i)
        sent, r = attempt(client_from(src, transport, host, port), "guess%d" % i, "wrong")
        ck.ok(r is not None and r.status == 401,
              "%s wrong password through the balancer (#%d): 401, not 503" % (src, i + 1),
              show(sent, r))
    sent, r = attempt(client_from("127.0.0.17", transport, host, port), "alice", pw_alice)
    ck.ok(r is not None and r.status == 200, "127.0.0.17 alice's password then: 200",
          show(sent, r))
    return ck.done()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
