"""im_common.py - an IM device for the broker tests (docs/im-event-package.md).

A Device owns one connection (UDP or TCP) to sipd and plays a user agent: it REGISTERs,
SUBSCRIBEs to topics with `Event: im` (optionally `since=`), answers every NOTIFY and MESSAGE it
gets (200 by default, or what `answer` says), keeps what it received in order, and publishes
by MESSAGE or PUBLISH. Requests and responses share the connection, so every wait pumps
incoming requests while looking for the response it wants.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Conn, Message, new_branch, new_call_id, new_tag  # noqa: E402

NS_URN = "urn:sipd:params:im"


def parse_cpim(body):
    """(cpim headers as [(name, value)], inner content-type, inner body bytes) of a message/cpim."""
    head, sep, rest = body.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("CPIM body without a blank line: %r" % body[:200])
    headers = []
    for line in head.decode("utf-8").split("\r\n"):
        name, _, value = line.partition(": ")
        headers.append((name, value))
    mime_head, sep2, inner = rest.partition(b"\r\n\r\n")
    if not sep2:
        raise ValueError("CPIM content without MIME headers: %r" % rest[:200])
    ctype, clen = None, None
    for line in mime_head.decode("utf-8").split("\r\n"):
        name, _, value = line.partition(": ")
        if name.lower() == "content-type":
            ctype = value
        elif name.lower() == "content-length":
            clen = int(value)
    if clen is not None and clen != len(inner):
        raise ValueError("inner Content-Length %d but %d octets" % (clen, len(inner)))
    return headers, ctype, inner


class Received:
    """One NOTIFY or MESSAGE the device got."""

    def __init__(self, msg):
        self.msg = msg
        self.method = msg.start_line.split(" ", 1)[0]
        self.event = msg.get("event") or ""
        self.sub_state = msg.get("subscription-state") or ""
        self.cpim = None
        self.seq = None
        self.ctype = msg.get("content-type")
        self.body = msg.body
        if self.method == "NOTIFY" and msg.body:
            self.cpim, self.ctype, self.body = parse_cpim(msg.body)
            h = dict(self.cpim)
            self.seq = int(h["im.Seq"])

    def cpim_get(self, name):
        for n, v in self.cpim or []:
            if n == name:
                return v
        return None


class Device:
    def __init__(self, transport, host, port, user, domain="example.com", instance=None):
        self.conn = Conn(transport, host, port, timeout=3.0)
        self.transport = transport
        self.user = user
        self.domain = domain
        self.aor = "sip:%s@%s" % (user, domain)
        self.instance = instance
        self.received = []          # Received, in arrival order
        self.answer = None          # fn(Message) -> status code for NOTIFY/MESSAGE, default 200
        self.pending = []           # responses not yet claimed
        self.answered = {}          # (Call-ID, CSeq) -> code: retransmissions get the same answer
        self.dialogs = {}           # topic aor -> dict(call_id, from_tag, to_tag, cseq)
        self.contact_uri = "sip:%s@%s:%d%s" % (user, self.conn.via_host, self.conn.local_port,
                                               ";transport=tcp" if transport == "tcp" else "")

    # ---- low level --------------------------------------------------------------------------
    def contact(self):
        c = "Contact: <%s>" % self.contact_uri
        if self.instance:
            c += ';+sip.instance="<%s>"' % self.instance
        return c

    def _reply(self, msg, code, reason="OK"):
        lines = ["SIP/2.0 %d %s" % (code, reason)]
        for name in ("via",):
            for n, v in msg.headers:
                if n == name:
                    lines.append("Via: %s" % v)
        to = msg.get("to")
        if to and ";tag=" not in to:
            to += ";tag=" + new_tag()
        lines += ["From: %s" % msg.get("from"), "To: %s" % to, "Call-ID: %s" % msg.get("call-id"),
                  "CSeq: %s" % msg.get("cseq"), "Content-Length: 0"]
        self.conn.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    def _handle(self, msg):
        """A request from the server: record it and answer. Responses are kept for waiters."""
        if msg.status is not None:
            self.pending.append(msg)
            return
        method = msg.start_line.split(" ", 1)[0]
        key = (msg.get("call-id"), msg.get("cseq"))
        if method in ("NOTIFY", "MESSAGE") and key in self.answered:
            # a retransmission of a request already answered: the same answer, nothing new
            self._reply(msg, self.answered[key], "OK" if self.answered[key] < 300 else "Refused")
            return
        if method in ("NOTIFY", "MESSAGE"):
            code = self.answer(msg) if self.answer else 200
            if code is None:
                return  # swallow: no answer at all
            rec = Received(msg)
            self.answered[key] = code
            if code < 300:
                self.received.append(rec)
            self._reply(msg, code, "OK" if code < 300 else "Refused")
        elif method == "OPTIONS":
            self._reply(msg, 200)
        else:
            self._reply(msg, 501, "Not Implemented")

    def pump(self, timeout=0.2):
        """Handle whatever arrives within timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            m = self.conn.recv(left, skip_provisional=False)
            if m is None:
                return
            self._handle(m)

    def wait_response(self, call_id, cseq_method, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            for i, r in enumerate(self.pending):
                if r.get("call-id") == call_id and (r.get("cseq") or "").endswith(cseq_method) \
                        and r.status >= 200:
                    return self.pending.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            m = self.conn.recv(left, skip_provisional=False)
            if m is None:
                return None
            self._handle(m)

    def send_request(self, method, ruri, headers=(), body=b"", call_id=None, cseq=1, from_tag=None,
                     to=None, timeout=5.0, to_user=None):
        call_id = call_id or new_call_id()
        from_tag = from_tag or new_tag()
        to = to or "<%s>" % ruri
        via = "SIP/2.0/%s %s:%d;rport;branch=%s" % (self.transport.upper(), self.conn.via_host,
                                                    self.conn.local_port, new_branch())
        if isinstance(body, str):
            body = body.encode()
        lines = ["%s %s SIP/2.0" % (method, ruri), "Via: %s" % via, "Max-Forwards: 70",
                 "From: <%s>;tag=%s" % (self.aor, from_tag), "To: %s" % to,
                 "Call-ID: %s" % call_id, "CSeq: %d %s" % (cseq, method), self.contact()]
        lines += list(headers)
        lines.append("Content-Length: %d" % len(body))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        self.conn.send(data)
        return self.wait_response(call_id, method, timeout), call_id, from_tag

    # ---- user agent operations --------------------------------------------------------------
    def register(self, expires=600):
        r, _, _ = self.send_request("REGISTER", "sip:%s" % self.domain, to="<%s>" % self.aor,
                                    headers=["Expires: %d" % expires])
        return r

    def subscribe(self, topic, since=None, expires=600, extra=(), event=None):
        ev = event or ("im" + (";since=%s" % since if since is not None else ""))
        r, call_id, from_tag = self.send_request(
            "SUBSCRIBE", topic, headers=["Event: %s" % ev, "Expires: %d" % expires] + list(extra))
        if r is not None and r.status == 200:
            self.dialogs[topic] = {"call_id": call_id, "from_tag": from_tag, "to_tag": r.to_tag(),
                                   "cseq": 1}
        return r

    def refresh(self, topic, since=None, expires=600):
        d = self.dialogs[topic]
        d["cseq"] += 1
        ev = "im" + (";since=%s" % since if since is not None else "")
        r, _, _ = self.send_request("SUBSCRIBE", topic, call_id=d["call_id"], cseq=d["cseq"],
                                    from_tag=d["from_tag"], to="<%s>;tag=%s" % (topic, d["to_tag"]),
                                    headers=["Event: %s" % ev, "Expires: %d" % expires])
        return r

    def publish(self, topic, text, ctype="text/plain;charset=UTF-8", method="MESSAGE", extra=()):
        headers = ["Content-Type: %s" % ctype] + list(extra)
        if method == "PUBLISH":
            headers.append("Event: im")
        r, _, _ = self.send_request(method, topic, headers=headers, body=text)
        return r

    # ---- what arrived -----------------------------------------------------------------------
    def messages(self, topic=None):
        """Message NOTIFYs received (optionally those whose dialog's topic is `topic`)."""
        out = [r for r in self.received if r.method == "NOTIFY" and r.seq is not None]
        if topic is not None:
            out = [r for r in out if re.search(r"<%s>" % re.escape(topic), r.msg.get("from") or "")]
        return out

    def pages(self):
        return [r for r in self.received if r.method == "MESSAGE"]

    def bodyless(self):
        return [r for r in self.received if r.method == "NOTIFY" and r.seq is None]

    def wait_for(self, cond, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not cond():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.pump(min(left, 0.1))
        return True

    def close(self):
        self.conn.close()


def event_param(event, name):
    m = re.search(r";\s*%s=([^;\s]+)" % re.escape(name), event or "")
    return m.group(1) if m else None
