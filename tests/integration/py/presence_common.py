#!/usr/bin/env python3
"""presence_common.py - a watcher and a publisher of the presence package (RFC 3856 / RFC 3903)
for the integration tests, on top of sipclient.py.

A Watcher holds one SUBSCRIBE dialog over its own socket (UDP or TCP): sipd sends the NOTIFYs
back over that flow. Every NOTIFY that arrives is answered 200 at once (unless told otherwise)
and queued; tests take them in order with next_notify(). PIDF documents are parsed with
xml.etree, so a composed document that is not well-formed XML fails the test.
"""

import os
import re
import sys
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Conn, new_branch, new_call_id, new_tag, reply  # noqa: E402

PIDF_NS = "urn:ietf:params:xml:ns:pidf"
PIDF_TYPE = "application/pidf+xml"


def pidf(entity, tuples, extra_ns=""):
    """A PIDF document: tuples = [(id, basic, note-or-None)]."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<presence xmlns="%s"%s entity="%s">' % (PIDF_NS, extra_ns, entity)]
    for tid, basic, note in tuples:
        t = '<tuple id="%s"><status><basic>%s</basic></status>' % (tid, basic)
        if note:
            t += "<note>%s</note>" % note
        parts.append(t + "</tuple>")
    parts.append("</presence>")
    return "\n".join(parts)


def tuples_of(body):
    """[(id, basic, note)] of a PIDF document, in document order. Raises on malformed XML."""
    root = ET.fromstring(body)
    if root.tag != "{%s}presence" % PIDF_NS:
        raise ValueError("root is %s" % root.tag)
    out = []
    for t in root.findall("{%s}tuple" % PIDF_NS):
        basic = t.find("{%s}status/{%s}basic" % (PIDF_NS, PIDF_NS))
        note = t.find("{%s}note" % PIDF_NS)
        out.append((t.get("id"), basic.text if basic is not None else None,
                    note.text if note is not None else None))
    return out


def entity_of(body):
    return ET.fromstring(body).get("entity")


def sub_state(msg):
    """('active', {'expires': '59'}) from a NOTIFY's Subscription-State."""
    v = msg.get("subscription-state") or ""
    parts = [p.strip() for p in v.split(";")]
    params = {}
    for p in parts[1:]:
        k, _, val = p.partition("=")
        params[k.strip().lower()] = val.strip()
    return parts[0].lower(), params


class Watcher:
    def __init__(self, transport, host, port, user, presentity, domain="example.com"):
        self.c = Conn(transport, host, port)
        self.transport = transport
        self.user = user
        self.domain = domain
        self.presentity = presentity          # user part of the presentity's AOR
        self.call_id = new_call_id()
        self.from_tag = new_tag()
        self.to_tag = None
        self.cseq = 0
        self.route_uri = None                 # Contact of the 200: our in-dialog Request-URI
        self.notifies = []                    # received, not yet taken
        self.responses = []
        self.answer_code = 200                # what NOTIFYs get

    @property
    def contact(self):
        t = ";transport=tcp" if self.transport == "tcp" else ""
        return "<sip:%s@%s:%d%s>" % (self.user, self.c.via_host, self.c.local_port, t)

    def _subscribe_bytes(self, expires, event, extra=()):
        self.cseq += 1
        ruri = self.route_uri if self.to_tag and self.route_uri else \
            "sip:%s@%s" % (self.presentity, self.domain)
        to = "<sip:%s@%s>" % (self.presentity, self.domain)
        if self.to_tag:
            to += ";tag=%s" % self.to_tag
        lines = ["SUBSCRIBE %s SIP/2.0" % ruri,
                 "Via: SIP/2.0/%s %s:%d;rport;branch=%s" % (
                     self.transport.upper(), self.c.via_host, self.c.local_port, new_branch()),
                 "Max-Forwards: 70",
                 "From: <sip:%s@%s>;tag=%s" % (self.user, self.domain, self.from_tag),
                 "To: %s" % to,
                 "Call-ID: %s" % self.call_id,
                 "CSeq: %d SUBSCRIBE" % self.cseq,
                 "Contact: %s" % self.contact]
        if event is not None:
            lines.append("Event: %s" % event)
        if expires is not None:
            lines.append("Expires: %d" % expires)
        lines += list(extra)
        lines.append("Content-Length: 0")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def pump(self, timeout):
        """Read for up to timeout seconds; answer and queue NOTIFYs, queue responses. Returns
        when something arrived (or the time is up)."""
        m = self.c.recv(timeout, skip_provisional=True)
        if m is None:
            return False
        if m.status is None:
            if m.start_line.startswith("NOTIFY"):
                self.c.send(reply(m, self.answer_code, "OK" if self.answer_code == 200 else "Gone"))
                self.notifies.append(m)
        else:
            self.responses.append(m)
        return True

    def _wait_for(self, queue, timeout):
        """Pump until `queue` (self.responses or self.notifies) holds something or timeout
        seconds have passed; True when it holds something."""
        deadline = time.monotonic() + timeout
        while not queue and time.monotonic() < deadline:
            self.pump(deadline - time.monotonic())
        return bool(queue)

    def response(self, timeout=3.0):
        return self.responses.pop(0) if self._wait_for(self.responses, timeout) else None

    def next_notify(self, timeout=3.0):
        return self.notifies.pop(0) if self._wait_for(self.notifies, timeout) else None

    def no_notify(self, seconds):
        """True when no NOTIFY arrives within `seconds`."""
        return not self._wait_for(self.notifies, seconds)

    def _transact(self, expires, event, extra=()):
        req = self._subscribe_bytes(expires, event, extra)
        self.c.send(req)
        return req, self.response()

    def subscribe(self, expires=60, event="presence", extra=()):
        """Initial SUBSCRIBE; returns (request bytes, response). Learns the dialog on 2xx."""
        req, r = self._transact(expires, event, extra)
        if r is not None and 200 <= r.status < 300:
            self.to_tag = r.to_tag()
            cs = r.contacts()
            self.route_uri = cs[0][0] if cs else None
        return req, r

    def refresh(self, expires, event="presence"):
        """In-dialog SUBSCRIBE; returns (request bytes, response)."""
        return self._transact(expires, event)

    def close(self):
        self.c.close()


def publish(conn, user, domain="example.com", body=None, etag=None, expires=None,
            event="presence", ctype=PIDF_TYPE):
    """One PUBLISH (new transaction, new Call-ID); returns (request bytes, response)."""
    hdrs = []
    if event is not None:
        hdrs.append("Event: %s" % event)
    if etag is not None:
        hdrs.append("SIP-If-Match: %s" % etag)
    if expires is not None:
        hdrs.append("Expires: %d" % expires)
    if body is not None and ctype:
        hdrs.append("Content-Type: %s" % ctype)
    req = conn.request("PUBLISH", ruri="sip:%s@%s" % (user, domain), user=user, domain=domain,
                       headers=hdrs, body=body or b"")
    return req, conn.transact(req)


def grep_header(msg, name, pattern):
    v = msg.get(name) if msg is not None else None
    return v is not None and re.search(pattern, v) is not None
