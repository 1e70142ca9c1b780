#!/usr/bin/env python3
"""auth_digest.py - digest authentication as a client sees it (docs/auth.md), against a sipd with
auth.enabled on, domain example.com, user alice (password PW_ALICE) and bob (PW_BOB) added.

    auth_digest.py TRANSPORT HOST PORT PW_ALICE PW_BOB [TTL_S]

  1. a REGISTER without credentials gets 401 with two WWW-Authenticate headers, SHA-256 first
     then MD5, realm "example.com", qop="auth", the same nonce, no stale;
  2. answered with SHA-256 credentials: 200; with MD5 credentials to a new nonce: 200;
  3. a wrong password and an unknown user get the same answer: 401 whose headers are the same
     (names, order, challenge text) once the nonce and To tag are masked;
  4. the same nonce with the same nc again (a replay): 401 stale=true; with nc+1: accepted;
  5. alice's valid credentials for a MESSAGE From bob, a REGISTER To bob: 403;
  6. MESSAGE and SUBSCRIBE (Event: im) from alice: 401 first, then accepted (2xx);
  7. INVITE from alice to carol@example.com: 407 with Proxy-Authenticate; answered: no 407/401;
     to bob (a registered device): the INVITE bob gets carries no credentials of ours;
  8. OPTIONS to the server, CANCEL, a request in a dialog and one From another domain are not
     challenged; a malformed Authorization header gets 400;
  9. (with TTL_S) a nonce older than auth.nonce_ttl_s: 401 stale=true, and the new nonce works.
Every expected hash is computed here with hashlib, independently of sipd.
"""

import hashlib
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Conn, new_branch, new_call_id, new_tag, reply, show  # noqa: E402

DOMAIN = "example.com"
ALGS = {"MD5": "md5", "SHA-256": "sha256"}


def H(alg, s):
    return hashlib.new(ALGS[alg], s.encode()).hexdigest()


def challenges(resp, name="www-authenticate"):
    """[{param: value}] of every challenge header of resp, in order."""
    out = []
    for n, v in resp.headers if resp is not None else []:
        if n != name:
            continue
        params = dict((k.lower(), val.strip('"')) for k, val in
                      re.findall(r'([A-Za-z-]+)=("[^"]*"|[^,\s]+)', v))
        params["_raw"] = v
        out.append(params)
    return out


def credentials(user, password, alg, nonce, method, uri, nc=1, realm=DOMAIN, cnonce="0a4f113b",
                header="Authorization"):
    ha1 = H(alg, "%s:%s:%s" % (user, realm, password))
    ha2 = H(alg, "%s:%s" % (method, uri))
    ncs = "%08x" % nc
    resp = H(alg, "%s:%s:%s:%s:auth:%s" % (ha1, nonce, ncs, cnonce, ha2))
    return ('%s: Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
            'algorithm=%s, cnonce="%s", qop=auth, nc=%s' % (header, user, realm, nonce, uri, resp,
                                                            alg, cnonce, ncs))


class Client:
    def __init__(self, transport, host, port):
        self.c = Conn(transport, host, port, timeout=3.0)

    def req(self, method, ruri, user="alice", to_user=None, headers=(), from_domain=DOMAIN,
            to_tag=None, cseq=1, call_id=None, body=b""):
        c = self.c
        to_user = to_user or user
        lines = ["%s %s SIP/2.0" % (method, ruri),
                 "Via: SIP/2.0/%s %s:%d;rport;branch=%s" % (c.T, c.via_host, c.local_port,
                                                            new_branch()),
                 "Max-Forwards: 70",
                 "From: <sip:%s@%s>;tag=%s" % (user, from_domain, new_tag()),
                 "To: <sip:%s@%s>%s" % (to_user, DOMAIN, ";tag=" + to_tag if to_tag else ""),
                 "Call-ID: %s" % (call_id or new_call_id()),
                 "CSeq: %d %s" % (cseq, method),
                 "Contact: <sip:%s@%s:%d;transport=%s>" % (user, c.via_host, c.local_port,
                                                            c.transport)]
        lines += list(headers)
        if isinstance(body, str):
            body = body.encode()
        lines.append("Content-Length: %d" % len(body))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        c.send(data)
        want = re.search(r"Call-ID: (\S+)", data.decode()).group(1)
        deadline = time.monotonic() + 4.0
        interval, next_tx = 0.5, time.monotonic() + 0.5  # UDP: resent as Timer E would
        while time.monotonic() < deadline:  # skip requests (a NOTIFY) and strays
            until = min(deadline, next_tx) if c.transport == "udp" else deadline
            r = c.recv(max(until - time.monotonic(), 0.01))
            if r is None:
                if c.transport == "udp" and time.monotonic() >= next_tx:
                    c.send(data)
                    interval = min(interval * 2, 4.0)
                    next_tx = time.monotonic() + interval
                continue
            if r.status is not None and r.get("call-id") == want:
                return data, r
        return data, None


def masked(resp):
    """resp's headers as comparable lines: nonce, tags, Via, Call-ID, CSeq masked."""
    out = [resp.start_line]
    for n, v in resp.headers:
        if n in ("via", "call-id", "cseq", "from", "to", "content-length", "server", "date"):
            out.append(n)
            continue
        out.append("%s: %s" % (n, re.sub(r'nonce="[^"]*"', 'nonce="N"', v)))
    return out


def main(argv):
    transport, host, port, pw_alice, pw_bob = argv[:5]
    ttl = float(argv[5]) if len(argv) > 5 and argv[5] else None
    ck = Checker("auth_digest %s" % transport)
    cl = Client(transport, host, port)
    reg_uri = "sip:%s" % DOMAIN

    # 1. the challenge
    sent, r = cl.req("REGISTER", reg_uri, headers=["Expires: 60"])
    ch = challenges(r)
    ck.ok(r is not None and r.status == 401, "REGISTER without credentials: 401", show(sent, r))
    ck.ok([c.get("algorithm") for c in ch] == ["SHA-256", "MD5"],
          "two challenges, SHA-256 first then MD5", show(sent, r))
    ck.ok(all(c.get("realm") == DOMAIN and c.get("qop") == "auth" and "stale" not in c
              for c in ch) and len({c.get("nonce") for c in ch}) == 1,
          "realm example.com, qop=auth, one nonce, not stale", show(sent, r))
    if len(ch) != 2:
        return ck.done()
    nonce = ch[0]["nonce"]

    # 2. answering
    sent, r = cl.req("REGISTER", reg_uri, headers=[
        "Expires: 60", credentials("alice", pw_alice, "SHA-256", nonce, "REGISTER", reg_uri)])
    ck.ok(r is not None and r.status == 200, "SHA-256 credentials: 200", show(sent, r))
    sent, r = cl.req("REGISTER", reg_uri, headers=["Expires: 60"])
    n2 = challenges(r)[1]["nonce"] if len(challenges(r)) == 2 else ""
    sent, r = cl.req("REGISTER", reg_uri, headers=[
        "Expires: 60", credentials("alice", pw_alice, "MD5", n2, "REGISTER", reg_uri)])
    ck.ok(r is not None and r.status == 200, "MD5 credentials: 200", show(sent, r))

    # 3. wrong password and unknown user: the same answer
    sent, wrong = cl.req("REGISTER", reg_uri, headers=[
        "Expires: 60", credentials("alice", pw_alice + "x", "SHA-256", nonce, "REGISTER", reg_uri,
                                   nc=7)])
    sent2, unknown = cl.req("REGISTER", reg_uri, user="nobody", headers=[
        "Expires: 60", credentials("nobody", pw_alice, "SHA-256", nonce, "REGISTER", reg_uri,
                                   nc=7)])
    ck.ok(wrong is not None and wrong.status == 401 and "stale" not in challenges(wrong)[0],
          "wrong password: 401, not stale", show(sent, wrong))
    ck.ok(unknown is not None and unknown.status == 401, "unknown user: 401", show(sent2, unknown))
    ck.ok(wrong is not None and unknown is not None and masked(wrong) == masked(unknown),
          "wrong password and unknown user: the same headers",
          "%s\n---\n%s" % (wrong and wrong.summary(), unknown and unknown.summary()))

    # 4. replay: nonce from 1 was used with nc 1 (step 2)
    sent, r = cl.req("REGISTER", reg_uri, headers=[
        "Expires: 60", credentials("alice", pw_alice, "SHA-256", nonce, "REGISTER", reg_uri)])
    ck.ok(r is not None and r.status == 401 and challenges(r) and
          challenges(r)[0].get("stale") == "true",
          "same nonce, same nc again: 401 stale=true", show(sent, r))
    sent, r = cl.req("REGISTER", reg_uri, headers=[
        "Expires: 60", credentials("alice", pw_alice, "SHA-256", nonce, "REGISTER", reg_uri,
                                   nc=2)])
    ck.ok(r is not None and r.status == 200, "same nonce, nc 2: 200", show(sent, r))

    # 5. identity: alice's valid credentials claiming bob
    msg_uri = "sip:bob@%s" % DOMAIN
    sent, r = cl.req("MESSAGE", msg_uri, user="bob", to_user="bob", body="hi",
                     headers=["Content-Type: text/plain",
                              credentials("alice", pw_alice, "SHA-256", nonce, "MESSAGE", msg_uri,
                                          nc=3)])
    ck.ok(r is not None and r.status == 403, "MESSAGE From bob with alice's credentials: 403",
          show(sent, r))
    sent, r = cl.req("REGISTER", reg_uri, user="alice", to_user="bob", headers=[
        "Expires: 60", credentials("alice", pw_alice, "SHA-256", nonce, "REGISTER", reg_uri,
                                   nc=4)])
    ck.ok(r is not None and r.status == 403, "REGISTER To bob with alice's credentials: 403",
          show(sent, r))
    sent, r = cl.req("MESSAGE", msg_uri, user="bob", to_user="bob", body="hi",
                     headers=["Content-Type: text/plain"])
    bn = challenges(r)[1]["nonce"] if r is not None and len(challenges(r)) == 2 else ""
    sent, r = cl.req("MESSAGE", msg_uri, user="bob", to_user="bob", body="hi",
                     headers=["Content-Type: text/plain",
                              credentials("bob", pw_bob, "MD5", bn, "MESSAGE", msg_uri, nc=1)])
    ck.ok(r is not None and 200 <= r.status < 300, "MESSAGE From bob with bob's credentials: 2xx",
          show(sent, r))

    # 6. MESSAGE and SUBSCRIBE (im) from alice
    sent, r = cl.req("MESSAGE", msg_uri, body="hello", headers=["Content-Type: text/plain"])
    ck.ok(r is not None and r.status == 401, "MESSAGE without credentials: 401", show(sent, r))
    mn = challenges(r)[0]["nonce"] if r is not None and challenges(r) else ""
    sent, r = cl.req("MESSAGE", msg_uri, body="hello", headers=[
        "Content-Type: text/plain", credentials("alice", pw_alice, "SHA-256", mn, "MESSAGE",
                                                msg_uri)])
    ck.ok(r is not None and 200 <= r.status < 300, "MESSAGE with credentials: 2xx", show(sent, r))
    sub_uri = "sip:alice@%s" % DOMAIN
    sent, r = cl.req("SUBSCRIBE", sub_uri, headers=["Event: im", "Expires: 0"])
    ck.ok(r is not None and r.status == 401, "SUBSCRIBE im without credentials: 401",
          show(sent, r))
    sent, r = cl.req("SUBSCRIBE", sub_uri, headers=[
        "Event: im", "Expires: 0",
        credentials("alice", pw_alice, "SHA-256", mn, "SUBSCRIBE", sub_uri, nc=2)])
    ck.ok(r is not None and 200 <= r.status < 300, "SUBSCRIBE im with credentials: 2xx",
          show(sent, r))

    # 7. a request this node forwards: 407
    inv_uri = "sip:carol@%s" % DOMAIN
    sent, r = cl.req("INVITE", inv_uri, to_user="carol")
    pch = challenges(r, "proxy-authenticate")
    ck.ok(r is not None and r.status == 407 and len(pch) == 2 and not challenges(r),
          "INVITE to a user: 407 with two Proxy-Authenticate", show(sent, r))
    if pch:
        sent, r = cl.req("INVITE", inv_uri, to_user="carol", headers=[
            credentials("alice", pw_alice, "SHA-256", pch[0]["nonce"], "INVITE", inv_uri,
                        header="Proxy-Authorization")])
        ck.ok(r is not None and r.status not in (401, 403, 407),
              "INVITE with Proxy-Authorization: past authentication (%s)" %
              (r.status if r is not None else None), show(sent, r))

    # 7b. what is forwarded carries no credentials of ours (RFC 3261 §22.3)
    bob = Conn(transport, host, port, timeout=3.0, endpoint=True)
    breq = lambda extra: bob.request("REGISTER", ruri=reg_uri, user="bob", headers=[
        "Contact: <sip:bob@%s:%d;transport=%s>" % (bob.via_host, bob.local_port, transport),
        "Expires: 60"] + extra)
    bob.send(breq([]))
    r = bob.recv(3.0)
    bch = challenges(r)
    if bch:
        bob.send(breq([credentials("bob", pw_bob, "SHA-256", bch[0]["nonce"], "REGISTER",
                                   reg_uri)]))
        r = bob.recv(3.0)
    ck.ok(r is not None and r.status == 200, "bob registers a device", r and r.summary())
    bob_uri = "sip:bob@%s" % DOMAIN
    sent, r = cl.req("INVITE", bob_uri, to_user="bob")
    pch = challenges(r, "proxy-authenticate")
    if pch:
        inv = cl.c.request("INVITE", ruri=bob_uri, user="alice", headers=[
            "To: <%s>" % bob_uri,
            credentials("alice", pw_alice, "SHA-256", pch[0]["nonce"], "INVITE", bob_uri,
                        header="Proxy-Authorization")], omit=("to",))
        cl.c.send(inv)
        got = None
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and got is None:
            m = bob.recv(0.5)
            if m is not None and m.status is None and m.start_line.startswith("INVITE"):
                got = m
        ck.ok(got is not None, "the authenticated INVITE reaches bob's device", show(inv, got))
        if got is not None:
            ck.ok(got.get("proxy-authorization") is None and got.get("authorization") is None,
                  "... without alice's credentials", got.summary())
            bob.send(reply(got, 486, "Busy Here", to_tag=new_tag()), to=bob.last_peer)
    bob.close()

    # 8. not challenged
    sent, r = cl.req("OPTIONS", "sip:%s:%s" % (host, port))
    ck.ok(r is not None and r.status == 200, "OPTIONS to the server: 200", show(sent, r))
    sent, r = cl.req("CANCEL", inv_uri, to_user="carol")
    ck.ok(r is not None and r.status == 481, "CANCEL of nothing: 481, not challenged", show(sent, r))
    sent, r = cl.req("BYE", inv_uri, to_user="carol", to_tag="abc")
    ck.ok(r is not None and r.status not in (401, 407), "BYE in a dialog: not challenged (%s)" %
          (r.status if r is not None else None), show(sent, r))
    sent, r = cl.req("MESSAGE", msg_uri, user="eve", from_domain="example.net", body="x",
                     headers=["Content-Type: text/plain"])
    ck.ok(r is not None and r.status not in (401, 407),
          "MESSAGE From another domain: not challenged (%s)" %
          (r.status if r is not None else None), show(sent, r))
    sent, r = cl.req("REGISTER", reg_uri, headers=[
        "Expires: 60", 'Authorization: Digest username="alice", realm="example.com", nonce="x'])
    ck.ok(r is not None and r.status == 400, "malformed Authorization: 400", show(sent, r))

    # 9. expiry
    if ttl:
        sent, r = cl.req("REGISTER", reg_uri, headers=["Expires: 60"])
        old = challenges(r)[0]["nonce"] if r is not None and challenges(r) else ""
        time.sleep(ttl + 1.2)
        sent, r = cl.req("REGISTER", reg_uri, headers=[
            "Expires: 60", credentials("alice", pw_alice, "SHA-256", old, "REGISTER", reg_uri)])
        ch = challenges(r)
        ck.ok(r is not None and r.status == 401 and ch and ch[0].get("stale") == "true",
              "expired nonce: 401 stale=true", show(sent, r))
        if ch:
            sent, r = cl.req("REGISTER", reg_uri, headers=[
                "Expires: 60", credentials("alice", pw_alice, "SHA-256", ch[0]["nonce"],
                                           "REGISTER", reg_uri)])
            ck.ok(r is not None and r.status == 200, "the fresh nonce: 200", show(sent, r))
    return ck.done()


if __name__ == "__main__":
    main(sys.argv[1:])
