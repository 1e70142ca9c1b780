#!/usr/bin/env python3
"""auth_nodes.py - two nodes sharing one database share the nonce secret (docs/auth.md): a nonce
one node issued authenticates at the other.

    auth_nodes.py TRANSPORT HOST PORT_A PORT_B PASSWORD

  1. a REGISTER for alice to A gets 401; its nonce, answered with alice's credentials to B: 200;
  2. the same the other way round (B's nonce at A), with MD5;
  3. B's nonce used again at B with the same nc: 401 stale=true (B remembers its counts);
  4. a nonce made up by no node (a MAC that is not the cluster's): 401 without stale.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from auth_digest import Client, challenges, credentials  # noqa: E402
from sipclient import Checker, show  # noqa: E402

DOMAIN = "example.com"


def main(argv):
    transport, host, pa, pb, pw = argv[:5]
    ck = Checker("auth_nodes %s" % transport)
    a, b = Client(transport, host, pa), Client(transport, host, pb)
    uri = "sip:%s" % DOMAIN

    for cl in (a, b):  # a node answers 503 until it has read the cluster's secret
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            sent, r = cl.req("REGISTER", uri, headers=["Expires: 60"])
            if r is not None and r.status == 401:
                break
            time.sleep(0.1)

    def nonce_from(cl, i=0):
        sent, r = cl.req("REGISTER", uri, headers=["Expires: 60"])
        ch = challenges(r)
        ck.ok(r is not None and r.status == 401 and len(ch) == 2, "a challenge", show(sent, r))
        return ch[i]["nonce"] if len(ch) == 2 else ""

    na = nonce_from(a)
    sent, r = b.req("REGISTER", uri, headers=[
        "Expires: 60", credentials("alice", pw, "SHA-256", na, "REGISTER", uri)])
    ck.ok(r is not None and r.status == 200, "A's nonce accepted by B: 200", show(sent, r))
    nb = nonce_from(b, 1)
    sent, r = a.req("REGISTER", uri, headers=[
        "Expires: 60", credentials("alice", pw, "MD5", nb, "REGISTER", uri)])
    ck.ok(r is not None and r.status == 200, "B's nonce accepted by A (MD5): 200", show(sent, r))
    sent, r = b.req("REGISTER", uri, headers=[
        "Expires: 60", credentials("alice", pw, "SHA-256", na, "REGISTER", uri)])
    ch = challenges(r)
    ck.ok(r is not None and r.status == 401 and ch and ch[0].get("stale") == "true",
          "A's nonce again at B with the same nc: 401 stale=true", show(sent, r))
    forged = na[:16] + "0" * 32
    sent, r = b.req("REGISTER", uri, headers=[
        "Expires: 60", credentials("alice", pw, "SHA-256", forged, "REGISTER", uri)])
    ch = challenges(r)
    ck.ok(r is not None and r.status == 401 and ch and "stale" not in ch[0],
          "a nonce with a MAC that is not the cluster's: 401, not stale", show(sent, r))
    return ck.done()


if __name__ == "__main__":
    main(sys.argv[1:])
