#!/usr/bin/env python3
"""tls_sip.py - SIP over TLS against sipd with Python's ssl module (Debian's SIPp has no TLS).

    tls_sip.py CASE HOST PORT CERTDIR RUN [options]

CERTDIR holds ca.pem (the test CA), client.pem/client.key (a client certificate signed by it),
rogue.pem/rogue.key (self-signed, not from the CA) and server.pem/server.key (for a device that
listens for TLS itself). Cases (each prints PASS/FAIL lines, exit 0 when all passed):
  register    REGISTER over TLS -> 200; the binding's Contact keeps transport=tls; the Via of the
              answer is SIP/2.0/TLS; the server's certificate chains to the CA and names 127.0.0.1
  call        two TLS devices: INVITE / 180 / 200 / ACK / BYE through sipd; sipd's Via on the
              forwarded INVITE is SIP/2.0/TLS, its Record-Route carries transport=tls, the ACK
              and BYE follow the route set
  sips        a sips: AOR registered over TLS is reached by a sips: INVITE with a sips:
              Record-Route; a sips: INVITE to a sips: AOR whose contact is UDP gets 480 (and the
              device never sees it): TLS on every hop (RFC 3261 §26.2, RFC 5630)
  im          an `im` subscription over TLS; a MESSAGE over TLS reaches it as a NOTIFY
  old-tls     a client offering TLS 1.1 at most is refused (protocol version alert; with
              --closed-ok a close after its ClientHello is enough), 1.2 and 1.3 are served
  stall       a TCP connection that never starts (or never ends) the handshake is closed after
              --timeout seconds, and not long before
  max-handshakes  with --max N (tls.max_handshakes): N silent connections make the next TLS
              client be refused; once they close, a handshake completes
  client-cert with tls.ca set: no client certificate -> no handshake; the rogue one -> none;
              the CA's -> REGISTER 200
  outbound    sipd connects out over TLS to a device that listens with server.pem (from the CA:
              the call goes through), and to one with rogue.pem (not from the CA: refused, the
              device never sees the INVITE)
"""

import os
import socket
import ssl
import sys
import threading
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import sipclient  # noqa: E402
from sipclient import (build, Checker, Conn, Device, new_branch, new_call_id, new_tag, reply,
                       route_set_from, remote_target, SDP)  # noqa: E402

case, host, port, certdir, run = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
opts = sys.argv[6:]
udp_port = int(opts[opts.index("--udp-port") + 1]) if "--udp-port" in opts else None
D = "example.com"


def cpath(name):
    return os.path.join(certdir, name)


def client_context(cert=None, min_v=ssl.TLSVersion.TLSv1_2, max_v=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cpath("ca.pem"))
    ctx.minimum_version = min_v
    if max_v:
        ctx.maximum_version = max_v
    if cert:
        ctx.load_cert_chain(cpath(cert + ".pem"), cpath(cert + ".key"))
    return ctx


sipclient.TLS_CONTEXT = client_context("client" if "--client-cert" in opts else None)
c = Checker("tls %s" % case)


def top_via(msg):
    v = msg.get_all("via")
    return v[0] if v else ""


def endpoint(user):
    """A TLS endpoint that registers user with its own connection as Contact."""
    e = Conn("tls", host, port, endpoint=True)
    e.user = user
    e.contact = "sip:%s@%s:%d;transport=tls" % (user, e.local_ip, e.local_port)
    return e


def register(e, scheme="sip"):
    aor = "%s:%s@%s" % (scheme, e.user, D)
    e.send(build(["REGISTER %s:%s SIP/2.0" % (scheme, D),
                  "Via: SIP/2.0/TLS %s:%d;rport;branch=%s" % (e.local_ip, e.local_port, new_branch()),
                  "Max-Forwards: 70", "From: <%s>;tag=%s" % (aor, new_tag()), "To: <%s>" % aor,
                  "Call-ID: %s" % new_call_id(), "CSeq: 1 REGISTER",
                  "Contact: <%s>" % e.contact.replace("sip:", scheme + ":", 1), "Expires: 600"]))
    return wait_final(e)


def wait_final(e, timeout=5.0, method=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        m = e.recv(end - time.monotonic())
        if m is None:
            return None
        if m.status is not None and m.status >= 200 and (not method or (m.get("cseq") or "").endswith(method)):
            return m
    return None


def wait_request(e, method, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        m = e.recv(end - time.monotonic())
        if m is None:
            return None
        if m.status is None and m.start_line.startswith(method + " "):
            return m
    return None


def call(caller, callee_user, ruri, c, expect_ok=True, rr_re="transport=tls", callee=None):
    """caller INVITEs ruri; callee (an endpoint) answers; ACK and BYE (from the callee)."""
    cid, ftag = new_call_id(), new_tag()
    frm = "<sip:%s@%s>;tag=%s" % (caller.user, D, ftag)
    caller.send(build(["INVITE %s SIP/2.0" % ruri,
                       "Via: SIP/2.0/TLS %s:%d;rport;branch=%s" % (caller.local_ip, caller.local_port, new_branch()),
                       "Max-Forwards: 70", "From: %s" % frm, "To: <%s>" % ruri,
                       "Call-ID: %s" % cid, "CSeq: 1 INVITE", "Contact: <%s>" % caller.contact,
                       "Content-Type: application/sdp"], SDP))
    if not expect_ok:
        r = wait_final(caller, 10.0)
        return r
    inv = wait_request(callee, "INVITE")
    c.ok(inv is not None, "the callee gets the INVITE over TLS")
    if inv is None:
        return None
    c.ok(top_via(inv).upper().startswith("SIP/2.0/TLS"), "sipd's Via on the forwarded INVITE is TLS",
         top_via(inv))
    rr = inv.get_all("record-route")
    c.ok(any(rr_re in x for x in rr), "Record-Route names the TLS hop (%s)" % rr_re, rr)
    ttag = new_tag()
    callee.send(reply(inv, 180, "Ringing", to_tag=ttag))
    callee.send(reply(inv, 200, "OK", to_tag=ttag, body=SDP, contact="<%s>" % callee.contact))
    ok = wait_final(caller, 5.0, "INVITE")
    c.ok(ok is not None and ok.status == 200, "the caller gets 200 for the INVITE", ok and ok.summary())
    if ok is None or ok.status != 200:
        return ok
    routes = route_set_from(ok)
    target = remote_target(ok)
    to = ok.get("to")
    caller.send(build(["ACK %s SIP/2.0" % target,
                       "Via: SIP/2.0/TLS %s:%d;rport;branch=%s" % (caller.local_ip, caller.local_port, new_branch())]
                      + ["Route: %s" % x for x in routes] +
                      ["Max-Forwards: 70", "From: %s" % frm, "To: %s" % to, "Call-ID: %s" % cid,
                       "CSeq: 1 ACK"]))
    ack = wait_request(callee, "ACK")
    c.ok(ack is not None, "the ACK reaches the callee along the route set")
    # the callee hangs up: its route set is the Record-Route in order (RFC 3261 §12.1.1)
    callee.send(build(["BYE %s SIP/2.0" % caller.contact,
                       "Via: SIP/2.0/TLS %s:%d;rport;branch=%s" % (callee.local_ip, callee.local_port, new_branch())]
                      + ["Route: %s" % x for x in rr] +
                      ["Max-Forwards: 70", "From: %s" % to, "To: %s" % frm, "Call-ID: %s" % cid,
                       "CSeq: 1 BYE"]))
    bye = wait_request(caller, "BYE")
    c.ok(bye is not None, "the BYE reaches the caller over TLS")
    if bye is not None:
        caller.send(reply(bye, 200, "OK"))
    r = wait_final(callee, 5.0, "BYE")
    c.ok(r is not None and r.status == 200, "the BYE gets 200", r and r.summary())
    return ok


def handshake(ctx, timeout=3.0):
    """Connect and handshake with ctx: None when it worked, else the error text."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        t = ctx.wrap_socket(s, server_hostname=host)
        # TLS 1.3: a refused client certificate shows on the first read
        t.settimeout(1.0)
        try:
            if t.recv(1) == b"":
                return "closed by the server"
        except socket.timeout:
            pass
        t.close()
        return None
    except (ssl.SSLError, OSError) as e:
        return str(e) or type(e).__name__
    finally:
        s.close()


if case == "register":
    e = endpoint("alice" + run)
    peer = e.sock.getpeercert()
    c.ok(peer is not None and ("IP Address", "127.0.0.1") in peer.get("subjectAltName", ()),
         "the server's certificate chains to the CA and names 127.0.0.1", peer)
    c.ok(e.sock.version() in ("TLSv1.2", "TLSv1.3"), "TLS 1.2 or 1.3 negotiated", e.sock.version())
    r = register(e)
    c.ok(r is not None and r.status == 200, "REGISTER over TLS -> 200", r and r.summary())
    c.ok(r is not None and any("transport=tls" in u for u, _ in r.contacts()),
         "the binding keeps ;transport=tls", r and r.get_all("contact"))
    c.ok(r is not None and top_via(r).upper().startswith("SIP/2.0/TLS"), "the answer's Via is TLS",
         r and top_via(r))
    opt = e.transact(e.request("OPTIONS", ruri="sip:%s:%d;transport=tls" % (host, port)))
    c.ok(opt is not None and opt.status == 200, "OPTIONS to sipd over TLS -> 200")

elif case == "call":
    alice, bob = endpoint("alice" + run), endpoint("bob" + run)
    for e in (alice, bob):
        r = register(e)
        c.ok(r is not None and r.status == 200, "%s registers over TLS" % e.user)
    call(alice, bob.user, "sip:%s@%s" % (bob.user, D), c, callee=bob)

elif case == "sips":
    alice, carol = endpoint("alice" + run), endpoint("carol" + run)
    for e in (alice, carol):
        r = register(e, "sips")
        c.ok(r is not None and r.status == 200, "%s registers a sips: AOR over TLS" % e.user,
             r and r.summary())
    call(alice, carol.user, "sips:%s@%s" % (carol.user, D), c, rr_re="<sips:", callee=carol)
    # a sips: AOR whose only contact is reached over UDP cannot take a sips: request
    u = Conn("udp", host, udp_port)
    dave = "dave" + run
    aor = "sips:%s@%s" % (dave, D)
    r = sipclient.transact(u, build(["REGISTER sips:%s SIP/2.0" % D,
                                     "Via: SIP/2.0/UDP %s:%d;rport;branch=%s" % (u.local_ip, u.local_port, new_branch()),
                                     "Max-Forwards: 70", "From: <%s>;tag=%s" % (aor, new_tag()),
                                     "To: <%s>" % aor, "Call-ID: %s" % new_call_id(), "CSeq: 1 REGISTER",
                                     "Contact: <sip:%s@%s:%d>" % (dave, u.local_ip, u.local_port),
                                     "Expires: 600"]))
    c.ok(r is not None and r.status == 200, "dave registers a sips: AOR with a UDP contact")
    r = call(alice, dave, "sips:%s@%s" % (dave, D), c, expect_ok=False)
    c.ok(r is not None and r.status == 480, "a sips: INVITE to a UDP-only contact -> 480", r and r.summary())
    got = u.recv(0.5)
    c.ok(got is None, "the UDP device never gets the sips: INVITE", got and got.summary())

elif case == "im":
    bob = Device("tls", host, port, "bob" + run)
    alice = Device("tls", host, port, "alice" + run)
    topic = "sip:bob%s@%s" % (run, D)
    r = bob.subscribe(topic)
    c.ok(r is not None and r.status == 200, "SUBSCRIBE (Event: im) over TLS -> 200", r and r.summary())
    c.ok(r is not None and "transport=tls" in (r.get("contact") or ""),
         "the 200's Contact says transport=tls", r and r.get("contact"))
    c.ok(bob.wait_for(lambda: bob.bodyless()), "the initial NOTIFY arrives over TLS")
    r = alice.publish(topic, "hello over TLS " + run)
    c.ok(r is not None and r.status == 200, "MESSAGE over TLS -> 200", r and r.summary())
    c.ok(bob.wait_for(lambda: bob.messages()), "the message arrives as a NOTIFY over TLS")
    m = bob.messages()
    c.ok(m and ("hello over TLS " + run).encode() in m[0].msg.body, "the NOTIFY carries the text",
         m and m[0].msg.summary())

elif case == "old-tls":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():  # deprecated: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    err = handshake(ctx)
    # sipd answers with a protocol_version alert; libmicrohttpd (--closed-ok) just closes
    refused = err is not None and ("PROTOCOL_VERSION" in err.upper().replace(" ", "_") or
                                   ("--closed-ok" in opts and "EOF" in err.upper()))
    c.ok(refused, "a TLS 1.1 client is refused (%s)" % ("closed or protocol version alert"
                                                         if "--closed-ok" in opts else "protocol version alert"), err)
    ctx12 = client_context(max_v=ssl.TLSVersion.TLSv1_2)
    c.ok(handshake(ctx12) is None, "a TLS 1.2 client is served")
    ctx13 = client_context(min_v=ssl.TLSVersion.TLSv1_3)
    c.ok(handshake(ctx13) is None, "a TLS 1.3 client is served")

elif case == "stall":
    limit = float(opts[opts.index("--timeout") + 1])
    silent = socket.create_connection((host, port))
    partial = socket.create_connection((host, port))
    partial.sendall(b"\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03")  # a ClientHello's first bytes
    t0 = time.monotonic()

    def closed_at(s):
        s.settimeout(limit + 5.0)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        return time.monotonic() - t0

    tw = closed_at(silent)
    tp = closed_at(partial)
    c.ok(limit * 0.7 <= tw <= limit + 3.0, "a silent connection is closed after the handshake "
         "timeout (%.1f s, limit %.1f s)" % (tw, limit))
    c.ok(tp <= limit + 3.0, "a half-sent ClientHello is closed too (%.1f s)" % tp)
    # and the server still serves
    e = endpoint("after" + run)
    r = register(e)
    c.ok(r is not None and r.status == 200, "a normal client registers afterwards")

elif case == "max-handshakes":
    limit = int(opts[opts.index("--max") + 1])
    silent = [socket.create_connection((host, port)) for _ in range(limit)]
    time.sleep(0.3)  # sipd has accepted them: `limit` handshakes in progress
    err = handshake(client_context())
    c.ok(err is not None, "one handshake more than tls.max_handshakes is refused", err)
    for s in silent:
        s.close()
    time.sleep(0.3)  # sipd sees them go
    err = handshake(client_context())
    c.ok(err is None, "once they are gone, a handshake completes", err)

elif case == "client-cert":
    err = handshake(client_context())
    c.ok(err is not None, "without a client certificate: no TLS session", err)
    err = handshake(client_context("rogue"))
    c.ok(err is not None, "with a certificate not from tls.ca: no TLS session", err)
    err = handshake(client_context("client"))
    c.ok(err is None, "with the CA's client certificate: the handshake completes", err)
    e = endpoint("alice" + run)
    r = register(e)
    c.ok(r is not None and r.status == 200, "REGISTER with a client certificate -> 200")

elif case == "outbound":
    def serve(cert, user, got):
        """A device listening for TLS with cert; registers its address over UDP."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cpath(cert + ".pem"), cpath(cert + ".key"))
        ls = socket.socket()
        ls.bind((host, 0))
        ls.listen(4)
        lport = ls.getsockname()[1]

        def run_server():
            ls.settimeout(15)
            try:
                raw, _ = ls.accept()
            except OSError:
                return
            try:
                s = ctx.wrap_socket(raw, server_hostname=None, server_side=True)
            except (ssl.SSLError, OSError) as e:
                got.append(("handshake-failed", str(e)))
                return
            dev = Conn.__new__(Conn)  # a Conn over the accepted socket
            dev.transport, dev.sock, dev.buf, dev.endpoint = "tls", s, b"", True
            dev.host, dev.port = host, port
            dev.local_ip, dev.local_port = s.getsockname()[:2]
            inv = wait_request(dev, "INVITE", 10.0)
            got.append(("invite", inv))
            if inv is not None:
                dev.send(reply(inv, 486, "Busy Here", to_tag=new_tag()))
                got.append(("ack", wait_request(dev, "ACK", 5.0)))
        th = threading.Thread(target=run_server, daemon=True)
        th.start()
        u = Conn("udp", host, udp_port)
        r = sipclient.register(u, user, D, ["<sip:%s@%s:%d;transport=tls>" % (user, host, lport)])
        c.ok(r is not None and r.status == 200, "%s registers a transport=tls Contact" % user)
        return th

    alice = endpoint("alice" + run)
    register(alice)
    got_ok, got_rogue = [], []
    th = serve("server", "erin" + run, got_ok)
    r = call(alice, "erin" + run, "sip:erin%s@%s" % (run, D), c, expect_ok=False)
    th.join(12)
    c.ok(any(k == "invite" and v is not None for k, v in got_ok),
         "sipd connects out over TLS (the CA's certificate) and delivers the INVITE", got_ok)
    c.ok(r is not None and r.status == 486, "the device's 486 comes back to the caller", r and r.summary())
    th = serve("rogue", "mallory" + run, got_rogue)
    r = call(alice, "mallory" + run, "sip:mallory%s@%s" % (run, D), c, expect_ok=False)
    th.join(12)
    c.ok(not any(k == "invite" for k, _ in got_rogue),
         "a device whose certificate is not from tls.ca never gets the INVITE", got_rogue)
    c.ok(r is not None and r.status >= 400, "the caller gets an error (%s)" % (r and r.status))

else:
    print("unknown case %s" % case)
    sys.exit(2)

sys.exit(c.done())
