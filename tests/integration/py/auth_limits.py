#!/usr/bin/env python3
"""auth_limits.py - the failed-authentication limits and the digest uri check (docs/auth.md
"Failed attempts"), as clients from several loopback addresses see them, against a sipd with
auth on, limits.exempt empty, auth.fail_burst=4, auth.fail_rate=0.2 (1 per 5 s),
auth.user_fail_burst=3, auth.user_fail_rate=0.5 (1 per 2 s), users alice (PW_ALICE), bob (PW_BOB)
and carol (PW_CAROL) of example.com.

    auth_limits.py TRANSPORT HOST PORT PW_ALICE PW_BOB PW_CAROL

  1. per source: 127.0.0.2 guesses passwords of 4 users (alice and 3 unknown ones), one each
     (401 each); its 5th guess gets
     503 with Retry-After (1..5); so does carol's RIGHT password from there (not checked); a
     request without credentials from there still gets the challenge (401); meanwhile alice
     registers from 127.0.0.3 with her password (200);
  2. per user: wrong passwords for bob from 127.0.0.4, .5 and .6 (401 each); then bob from .7 gets
     503 + Retry-After (1..2) for a wrong and for the right password; alice from .4 (a source that
     failed for bob) registers (200); an unknown user is throttled exactly like bob (scanners
     learn nothing); after Retry-After, bob's right password from .7 registers (200);
  3. credentials whose uri is not the Request-URI (the response computed over that uri): 400.
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from auth_digest import DOMAIN, Client, challenges, credentials  # noqa: E402
from sipclient import Checker, show  # noqa: E402


def client_from(src, transport, host, port):
    """A Client whose socket is bound to source address src."""
    cl = Client(transport, host, port)
    c = cl.c
    c.sock.close()
    kind = socket.SOCK_DGRAM if c.transport == "udp" else socket.SOCK_STREAM
    c.sock = socket.socket(socket.AF_INET, kind)
    c.sock.settimeout(3.0)
    c.sock.bind((src, 0))
    c.sock.connect(c.server)
    c.local_ip, c.local_port = c.sock.getsockname()[:2]
    return cl


REG_URI = "sip:%s" % DOMAIN


def attempt(cl, user, password, uri=REG_URI):
    """A REGISTER for user: challenged first, then answered with password (SHA-256) computed
    over uri. Returns (sent, response) of the answer."""
    sent, r = cl.req("REGISTER", REG_URI, user=user, headers=["Expires: 60"])
    ch = challenges(r)
    if not ch:
        return sent, r
    return cl.req("REGISTER", REG_URI, user=user, headers=[
        "Expires: 60", credentials(user, password, "SHA-256", ch[0]["nonce"], "REGISTER", uri)])


def is_503(r, lo, hi):
    """r is 503 with a Retry-After in lo..hi seconds."""
    if r is None or r.status != 503:
        return False
    ra = (r.get("retry-after") or "").split(";")[0].strip()
    return ra.isdigit() and lo <= int(ra) <= hi


def main(argv):
    transport, host, port, pw_alice, pw_bob, pw_carol = argv[:6]
    ck = Checker("auth_limits %s" % transport)

    # 1. per source
    s2 = client_from("127.0.0.2", transport, host, port)
    for i, user in enumerate(["alice", "scan1", "scan2", "scan3"]):
        sent, r = attempt(s2, user, "guess-%d" % i)
        ck.ok(r is not None and r.status == 401, "127.0.0.2 wrong password #%d (%s): 401"
              % (i + 1, user), show(sent, r))
    sent, r = attempt(s2, "scan4", "guess-5")
    ck.ok(is_503(r, 1, 5), "127.0.0.2 5th wrong password: 503 with Retry-After 1..5",
          show(sent, r))
    sent, r = attempt(s2, "carol", pw_carol)
    ck.ok(is_503(r, 1, 5), "127.0.0.2 with carol's right password while limited: 503 (unchecked)",
          show(sent, r))
    sent, r = s2.req("REGISTER", REG_URI, user="carol", headers=["Expires: 60"])
    ck.ok(r is not None and r.status == 401,
          "127.0.0.2 without credentials while limited: the challenge (401)", show(sent, r))
    s3 = client_from("127.0.0.3", transport, host, port)
    sent, r = attempt(s3, "alice", pw_alice)
    ck.ok(r is not None and r.status == 200, "127.0.0.3 alice's password meanwhile: 200",
          show(sent, r))

    # 2. per user
    for src in ("127.0.0.4", "127.0.0.5", "127.0.0.6"):
        sent, r = attempt(client_from(src, transport, host, port), "bob", "wrong")
        ck.ok(r is not None and r.status == 401, "%s bob wrong password: 401" % src, show(sent, r))
    s7 = client_from("127.0.0.7", transport, host, port)
    sent, r = attempt(s7, "bob", "wrong")
    ck.ok(is_503(r, 1, 2), "127.0.0.7 bob's 4th wrong password: 503 with Retry-After 1..2",
          show(sent, r))
    sent, r = attempt(s7, "bob", pw_bob)
    ck.ok(is_503(r, 1, 2), "127.0.0.7 bob's right password while bob is limited: 503",
          show(sent, r))
    retry = int(r.get("retry-after")) if is_503(r, 1, 2) else 2
    sent, r = attempt(client_from("127.0.0.4", transport, host, port), "alice", pw_alice)
    ck.ok(r is not None and r.status == 200, "127.0.0.4 alice (bob failed from there): 200",
          show(sent, r))
    answers = []
    for src in ("127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"):
        sent, r = attempt(client_from(src, transport, host, port), "nobody3", "wrong")
        answers.append(r.status if r is not None else None)
    ck.ok(answers == [401, 401, 401, 503],
          "an unknown user is throttled like bob: 401 401 401 503 (%s)" % answers)
    time.sleep(retry + 0.2)
    sent, r = attempt(s7, "bob", pw_bob)
    ck.ok(r is not None and r.status == 200,
          "after Retry-After (%d s) bob's right password: 200" % retry, show(sent, r))

    # 3. the uri must be the Request-URI
    s8 = client_from("127.0.0.8", transport, host, port)
    sent, r = attempt(s8, "alice", pw_alice, uri="sip:example.org")
    ck.ok(r is not None and r.status == 400, "credentials for another uri: 400", show(sent, r))
    sent, r = attempt(s8, "alice", pw_alice, uri="sip:EXAMPLE.COM")
    ck.ok(r is not None and r.status == 200, "the uri in another case (equal as SIP URIs): 200",
          show(sent, r))
    return ck.done()


if __name__ == "__main__":
    main(sys.argv[1:])
