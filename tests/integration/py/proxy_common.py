"""proxy_common.py - helpers shared by the proxy test clients in py/ (Python 3 stdlib only).

Requests of a call (INVITE, ACK, CANCEL, BYE, re-INVITE) built the way a UA builds them (RFC 3261
§8.1, §12.2.1, §9.1, §17.1.1.3), REGISTER for a device, and a UDP/TCP "device" socket that reads
SIP messages from the proxy. Built on sipclient.py; nothing here is clever on purpose.
"""

import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Message, new_branch, new_call_id, new_tag, show  # noqa: E402,F401

T1 = 0.5

SDP = ("v=0\r\n"
       "o=it 1 1 IN IP4 127.0.0.1\r\n"
       "s=-\r\n"
       "c=IN IP4 127.0.0.1\r\n"
       "t=0 0\r\n"
       "m=audio 6000 RTP/AVP 0\r\n"
       "a=rtpmap:0 PCMU/8000\r\n")


def via_branch(via):
    m = re.search(r";\s*branch=([^;,\s]+)", via or "")
    return m.group(1) if m else None


def cseq_method(msg):
    cs = msg.get("cseq") or ""
    parts = cs.split()
    return parts[1].upper() if len(parts) > 1 else ""


def cseq_number(msg):
    cs = msg.get("cseq") or ""
    parts = cs.split()
    return int(parts[0]) if parts and parts[0].isdigit() else -1


def request_method(msg):
    if msg.status is not None:
        return None
    return msg.start_line.split(" ", 1)[0].upper()


def request_uri(msg):
    parts = msg.start_line.split(" ")
    return parts[1] if len(parts) > 1 else ""


def header_lines(raw, name):
    """Every raw header line (name: value) of `name` (full name, case-insensitive) in order."""
    out = []
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    for line in head.split("\r\n")[1:]:
        n, colon, _ = line.partition(":")
        if colon and n.strip().lower() == name.lower():
            out.append(line)
    return out


def hostport_of_uri(uri):
    """(host, port) of a SIP URI (port 5060 when absent)."""
    m = re.match(r"sips?:(?:[^@;>]*@)?(\[[^\]]+\]|[^:;>?]+)(?::(\d+))?", uri)
    if not m:
        return None, None
    return m.group(1), int(m.group(2) or 5060)


class Device:
    """A SIP endpoint socket: UDP (bound, NOT connected: it may hear from anyone) or TCP (one
    connection to the server). Reads whole messages; remembers where each came from (UDP)."""

    def __init__(self, transport, server_host, server_port, bind_port=0):
        self.transport = transport.lower()
        self.server = (server_host, int(server_port))
        if self.transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((server_host, bind_port))
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.bind((server_host, bind_port))
            self.sock.connect(self.server)
        self.local_ip, self.local_port = self.sock.getsockname()[:2]
        self.buf = b""
        self.last_peer = None

    @property
    def T(self):
        return self.transport.upper()

    def send(self, data, to=None):
        if isinstance(data, str):
            data = data.encode()
        if self.transport == "udp":
            self.sock.sendto(data, to or self.server)
        else:
            self.sock.sendall(data)

    def recv(self, timeout):
        """Next message (Message) or None after timeout seconds / on close."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if self.transport == "tcp":
                self.buf = self.buf.lstrip(b"\r\n")
                n = _frame_length(self.buf)
                if n is not None:
                    data, self.buf = self.buf[:n], self.buf[n:]
                    return Message(data)
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                if self.transport == "udp":
                    data, peer = self.sock.recvfrom(70000)
                    self.last_peer = peer
                    if not data.strip():
                        continue          # keep-alive
                    return Message(data)
                chunk = self.sock.recv(70000)
            except socket.timeout:
                return None
            except OSError:
                return None
            if not chunk:
                return None
            self.buf += chunk

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def _frame_length(buf):
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    clen = 0
    for line in buf[:end].decode("utf-8", "replace").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() in ("content-length", "l"):
            clen = int(value.strip() or 0)
    total = end + 4 + clen
    return total if len(buf) >= total else None


def build(lines, body=b""):
    if isinstance(body, str):
        body = body.encode()
    lines = [line for line in lines if line is not None]
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def register_request(dev, user, domain, contacts, expires=None, call_id=None, cseq=1, tag=None,
                     extra=()):
    """REGISTER from dev for user@domain; contacts: list of Contact header values (or [])."""
    lines = ["REGISTER sip:%s SIP/2.0" % domain,
             "Via: SIP/2.0/%s %s:%d;rport;branch=%s" % (dev.T, dev.local_ip, dev.local_port,
                                                        new_branch()),
             "Max-Forwards: 70",
             "From: <sip:%s@%s>;tag=%s" % (user, domain, tag or new_tag()),
             "To: <sip:%s@%s>" % (user, domain),
             "Call-ID: %s" % (call_id or new_call_id()),
             "CSeq: %d REGISTER" % cseq]
    lines += ["Contact: %s" % c for c in contacts]
    if expires is not None:
        lines.append("Expires: %d" % expires)
    lines += list(extra)
    return build(lines)


def transact(dev, req, timeout=4.0, method=None):
    """Send req (retransmitted on UDP per Timer E) and return its final response or None."""
    m = Message(req)
    branch = via_branch(m.get("via"))
    method = method or request_method(m)
    deadline = time.monotonic() + timeout
    interval = T1
    dev.send(req)
    next_tx = time.monotonic() + interval
    while time.monotonic() < deadline:
        wait = min(deadline, next_tx) - time.monotonic() if dev.transport == "udp" else \
            deadline - time.monotonic()
        r = dev.recv(max(wait, 0.01))
        if r is None:
            if dev.transport == "udp" and time.monotonic() >= next_tx:
                dev.send(req)
                interval = min(interval * 2, 4.0)
                next_tx = time.monotonic() + interval
            continue
        if r.status is None or via_branch(r.get("via")) != branch or cseq_method(r) != method:
            continue
        if r.status >= 200:
            return r
    return None


def register(dev, user, domain, contacts, expires=None, timeout=4.0, **kw):
    return transact(dev, register_request(dev, user, domain, contacts, expires, **kw), timeout)


def bindings(resp):
    """[(uri, params)] of the Contacts of a REGISTER 200."""
    return resp.contacts() if resp is not None else []


def route_set_from(resp_or_req, uac=True):
    """The route set a UA takes from a 2xx (uac: Record-Route reversed) or an INVITE (uas: as is).
    Returns a list of 'Route' values (name-addr strings)."""
    rr = resp_or_req.get_all("record-route")
    return list(reversed(rr)) if uac else list(rr)


def remote_target(msg):
    c = msg.contacts()
    return c[0][0] if c else None


def reply(req, code, reason, to_tag=None, extra=(), body=b"", contact=None):
    """A response to req (a Message): Via, From, To (+ tag), Call-ID, CSeq copied; Record-Route
    copied for 18x/2xx of a dialog-forming request (RFC 3261 §12.1.1)."""
    lines = ["SIP/2.0 %d %s" % (code, reason)]
    for line in header_lines(req.raw, "via") + header_lines(req.raw, "v"):
        lines.append(line)
    if 100 < code < 300:
        lines += header_lines(req.raw, "record-route")
    for name in ("from", "f"):
        lines += header_lines(req.raw, name)
    to = (header_lines(req.raw, "to") + header_lines(req.raw, "t"))[0]
    if to_tag and ";tag=" not in to.replace(" ", "").lower():
        to += ";tag=%s" % to_tag
    lines.append(to)
    lines += header_lines(req.raw, "call-id") + header_lines(req.raw, "i")
    lines += header_lines(req.raw, "cseq")
    if contact:
        lines.append("Contact: %s" % contact)
    lines += list(extra)
    if body:
        lines.append("Content-Type: application/sdp")
    return build(lines, body)


def elapsed(t0):
    return "%.2fs" % (time.monotonic() - t0)
