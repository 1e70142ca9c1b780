#!/usr/bin/env python3
"""sipclient.py - the SIP client of the sipd integration tests (Python 3 stdlib only).

Every scenario script in py/ builds on this one module:
  - messages: Message (a parsed request or response), build() / Conn.request() (requests as
    text), reply() (a response to a received request), small header helpers (via_branch,
    cseq_method, header_lines, ...) and the TCP stream framing by Content-Length (frame_length);
  - transport: Conn, one UDP, TCP or TLS socket toward the server (IPv4 or IPv6; TLS with the
    ssl.SSLContext in TLS_CONTEXT, set by py/tls_sip.py), which reads whole
    messages; Conn.transact() sends once and waits, while transact(conn, req) and register()
    retransmit over UDP (Timer E) and match the answer by branch;
  - a Device: a user agent on its own Conn that REGISTERs, SUBSCRIBEs (Event: im), answers every
    NOTIFY and MESSAGE it gets and keeps what it received (the broker's tests);
  - Checker and show() for the PASS/FAIL lines the shell tests count.

As a command it answers "is the server up?":

    sipclient.py ping udp|tcp HOST PORT [TIMEOUT_S]     exit 0 when an OPTIONS gets 200

Nothing here is clever on purpose: what a test sends is exactly what it wrote.
"""

import random
import re
import socket
import sys
import time

# RFC 3261 §7.3.3 compact forms, so a server that uses them is still understood.
COMPACT = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
    "c": "content-type", "f": "from", "k": "supported", "s": "subject", "t": "to", "v": "via",
}


# The client context for transport "tls" (ssl.SSLContext), set by the TLS tests (py/tls_sip.py).
TLS_CONTEXT = None


def new_branch():
    return "z9hG4bK-it-%08x%04x" % (random.getrandbits(32), random.getrandbits(16))


def new_tag():
    return "%08x" % random.getrandbits(32)


def new_call_id():
    return "it-%016x@127.0.0.1" % random.getrandbits(64)


class Message:
    """A parsed SIP message (response or request)."""

    def __init__(self, raw):
        self.raw = raw
        head, sep, body = raw.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("no end of headers in %r" % raw[:200])
        self.body = body
        lines = head.decode("utf-8", "replace").split("\r\n")
        self.start_line = lines[0]
        self.headers = []            # [(lower-case full name, value)] in order
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:      # folded line
                n, v = self.headers[-1]
                self.headers[-1] = (n, v + " " + line.strip())
                continue
            name, colon, value = line.partition(":")
            if not colon:
                continue
            name = name.strip().lower()
            self.headers.append((COMPACT.get(name, name), value.strip()))
        self.status = None
        self.reason = None
        m = re.match(r"SIP/2\.0 (\d{3}) ?(.*)$", self.start_line)
        if m:
            self.status = int(m.group(1))
            self.reason = m.group(2)

    def get(self, name):
        """First value of header `name` (case-insensitive), or None."""
        name = name.lower()
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def get_all(self, name):
        """Every value of header `name`, comma-separated lists split (outside <> and quotes)."""
        name = name.lower()
        out = []
        for n, v in self.headers:
            if n == name:
                out.extend(split_list(v))
        return out

    def count(self, name):
        return len(self.get_all(name))

    def contacts(self):
        """[(uri, {param: value})] of every Contact; uri without <>; param names lower-case."""
        return [parse_name_addr(v) for v in self.get_all("contact")]

    def to_tag(self):
        to = self.get("to") or ""
        m = re.search(r";\s*tag=([^;\s]+)", to)
        return m.group(1) if m else None

    def summary(self):
        return self.raw.decode("utf-8", "replace")


def split_list(value):
    parts, cur, depth, quoted = [], [], 0, False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def parse_name_addr(value):
    value = value.strip()
    if "<" in value:
        uri = value[value.index("<") + 1:value.index(">")]
        rest = value[value.index(">") + 1:]
    else:
        uri, _, rest = value.partition(";")
        rest = ";" + rest if rest else ""
    params = {}
    for p in rest.split(";"):
        p = p.strip()
        if not p:
            continue
        k, eq, v = p.partition("=")
        params[k.strip().lower()] = v.strip() if eq else None
    return uri.strip(), params


def frame_length(buf):
    """Length of the first complete message in a TCP stream buffer, or None if incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("utf-8", "replace")
    clen = 0
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() in ("content-length", "l"):
            clen = int(value.strip() or 0)
    total = end + 4 + clen
    return total if len(buf) >= total else None


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


def event_param(event, name):
    """Value of parameter `name` of an Event header value, or None."""
    m = re.search(r";\s*%s=([^;\s]+)" % re.escape(name), event or "")
    return m.group(1) if m else None


def build(lines, body=b""):
    """A message from its start line and header lines (None entries skipped) and a body;
    Content-Length is appended."""
    if isinstance(body, str):
        body = body.encode()
    lines = [line for line in lines if line is not None]
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def reply(req, code, reason, to_tag=None, extra=(), body=b"", contact=None):
    """A response to req (a Message): Via, From, To (+ to_tag when it has none), Call-ID, CSeq
    copied as received; Record-Route copied for 101-299 (RFC 3261 §12.1.1); a body is SDP."""
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


class Conn:
    """One client socket toward the server: UDP or TCP (one connection), IPv4 or IPv6.

    By default a UDP socket is connected to the server and recv() skips provisional responses:
    a client that asks and waits for the answer. With endpoint=True it is a SIP endpoint
    instead (the proxy tests' caller and callees): a UDP socket is bound but NOT connected, so it
    hears from anyone (last_peer says who sent the last datagram) and send(data, to=...) can
    answer anyone; recv() returns every message, 1xx included; a reset flow reads as None.
    Both skip keep-alives (blank datagrams, CRLFs between messages on a stream)."""

    def __init__(self, transport, host, port, timeout=3.0, bind_port=0, endpoint=False):
        self.transport = transport.lower()
        self.host = host.strip("[]")
        self.port = int(port)
        self.server = (self.host, self.port)
        self.endpoint = endpoint
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        kind = socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(family, kind)
        self.sock.settimeout(timeout)
        self.sock.bind((self.host, bind_port))
        self.connected = not (endpoint and self.transport == "udp")
        if self.connected:
            self.sock.connect(self.server)
        if self.transport == "tls":   # the server's certificate must name the address we dial
            self.sock = TLS_CONTEXT.wrap_socket(self.sock, server_hostname=self.host)
        self.buf = b""
        self.last_peer = None
        self.local_ip, self.local_port = self.sock.getsockname()[:2]

    @property
    def T(self):
        return self.transport.upper()

    @property
    def via_host(self):
        return "[%s]" % self.local_ip if ":" in self.local_ip else self.local_ip

    @property
    def server_hostport(self):
        h = "[%s]" % self.host if ":" in self.host else self.host
        return "%s:%d" % (h, self.port)

    def send(self, data, to=None):
        """Send bytes (or text); on an endpoint's UDP socket to `to` (default: the server)."""
        if isinstance(data, str):
            data = data.encode()
        if self.transport != "udp":
            self.sock.sendall(data)
        elif self.connected:
            self.sock.send(data)
        else:
            self.sock.sendto(data, to or self.server)

    def recv_raw(self, timeout=3.0):
        """Whatever bytes arrive next (UDP: one datagram). b'' on timeout or close."""
        if self.buf:
            data, self.buf = self.buf, b""
            return data
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(70000)
        except socket.timeout:
            return b""

    def is_closed(self, timeout=0.5):
        """True when the peer has closed (EOF or reset) within timeout; False if still open."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(70000, socket.MSG_PEEK) == b""
        except socket.timeout:
            return False
        except OSError:
            return True

    def recv(self, timeout=3.0, skip_provisional=None):
        """Next SIP message as Message, or None on timeout/close. Skips 1xx unless told not to
        (an endpoint does not by default). Socket errors raise, except on an endpoint."""
        if skip_provisional is None:
            skip_provisional = not self.endpoint
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self._recv_one(deadline)
            except OSError:
                if not self.endpoint:
                    raise
                return None
            if msg is None:
                return None
            if skip_provisional and msg.status is not None and msg.status < 200:
                continue
            return msg

    def _recv_one(self, deadline):
        while True:
            if self.transport != "udp":
                # keep-alive CRLFs between messages are not messages (RFC 5626 §3.5.1)
                self.buf = self.buf.lstrip(b"\r\n")
                n = frame_length(self.buf)
                if n is not None:
                    data, self.buf = self.buf[:n], self.buf[n:]
                    return Message(data)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                if self.transport == "udp":
                    data, self.last_peer = self.sock.recvfrom(70000)
                    if not data.strip():
                        continue          # a keep-alive datagram
                    return Message(data)
                chunk = self.sock.recv(70000)
            except socket.timeout:
                return None
            if not chunk:
                return None
            self.buf += chunk

    def request(self, method, ruri=None, user="alice", domain="example.com", call_id=None,
                cseq=1, from_tag=None, branch=None, headers=(), body=b"", omit=(),
                via=None, max_forwards=70):
        """Build (not send) a request. `omit` lists header names to leave out (e.g. 'call-id').
        `headers` is a list of extra 'Name: value' strings appended in order."""
        ruri = ruri or "sip:%s" % domain
        via = via or "SIP/2.0/%s %s:%d;rport;branch=%s" % (
            self.transport.upper(), self.via_host, self.local_port, branch or new_branch())
        lines = ["%s %s SIP/2.0" % (method, ruri)]
        std = [
            ("via", "Via: %s" % via),
            ("max-forwards", "Max-Forwards: %d" % max_forwards),
            ("from", "From: <sip:%s@%s>;tag=%s" % (user, domain, from_tag or new_tag())),
            ("to", "To: <sip:%s@%s>" % (user, domain)),
            ("call-id", "Call-ID: %s" % (call_id or new_call_id())),
            ("cseq", "CSeq: %d %s" % (cseq, method)),
        ]
        omit = {o.lower() for o in omit}
        lines += [text for name, text in std if name not in omit]
        lines += list(headers)
        if isinstance(body, str):
            body = body.encode()
        if "content-length" not in omit:
            lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def transact(self, data, timeout=3.0):
        self.send(data)
        return self.recv(timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---- requests with retransmissions (RFC 3261 §17.1.2.2) -----------------------------------------

def register_request(dev, user, domain, contacts, expires=None, call_id=None, cseq=1, tag=None,
                     extra=()):
    """REGISTER from dev (a Conn) for user@domain; contacts: list of Contact header values (or [])."""
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
    """Send req from dev (an endpoint Conn), retransmitted on UDP per Timer E, and return its
    final response (matched by branch and CSeq method) or None."""
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
        r = dev.recv(max(wait, 0.01), skip_provisional=False)
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


def elapsed(t0):
    return "%.2fs" % (time.monotonic() - t0)


# ---- a user agent of the im package (docs/im-event-package.md) -----------------------------------

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
    """One NOTIFY or MESSAGE a Device got."""

    def __init__(self, msg):
        self.msg = msg
        self.method = msg.start_line.split(" ", 1)[0]
        self.event = msg.get("event") or ""
        self.sub_state = msg.get("subscription-state") or ""
        self.cpim = None
        self.seq = None
        self.ctype = msg.get("content-type")
        self.body = msg.body
        if self.method == "NOTIFY" and msg.body and \
                self.event.split(";", 1)[0].strip().lower() in ("im", ""):
            self.cpim, self.ctype, self.body = parse_cpim(msg.body)
            h = dict(self.cpim)
            self.seq = int(h["im.Seq"])

    def cpim_get(self, name):
        for n, v in self.cpim or []:
            if n == name:
                return v
        return None


class Device:
    """A user agent on one connection (UDP or TCP) to sipd: it REGISTERs, SUBSCRIBEs to topics
    with `Event: im` (optionally `since=`), answers every NOTIFY and MESSAGE it gets (200 by
    default, or what `answer` says), keeps what it received in order, and publishes by MESSAGE
    or PUBLISH. Requests and responses share the connection, so every wait pumps incoming
    requests while looking for the response it wants."""

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
                                               "" if transport == "udp" else ";transport=" + transport)

    # ---- low level --------------------------------------------------------------------------
    def contact(self):
        c = "Contact: <%s>" % self.contact_uri
        if self.instance:
            c += ';+sip.instance="<%s>"' % self.instance
        return c

    def _reply(self, msg, code, reason="OK"):
        self.conn.send(reply(msg, code, reason, to_tag=new_tag()))

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
        lines = ["%s %s SIP/2.0" % (method, ruri), "Via: %s" % via, "Max-Forwards: 70",
                 "From: <%s>;tag=%s" % (self.aor, from_tag), "To: %s" % to,
                 "Call-ID: %s" % call_id, "CSeq: %d %s" % (cseq, method), self.contact()]
        self.conn.send(build(lines + list(headers), body))
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
                                   "cseq": 1, "route": route_set_from(r),
                                   "target": remote_target(r)}
        return r

    def refresh(self, topic, since=None, expires=600):
        d = self.dialogs[topic]
        d["cseq"] += 1
        ev = "im" + (";since=%s" % since if since is not None else "")
        # behind a record-routing element (a balancer) the refresh follows the dialog's route set
        # to its remote target (RFC 3261 §12.2.1.1); with no route set it goes as before
        routed = bool(d.get("route")) and d.get("target")
        r, _, _ = self.send_request("SUBSCRIBE", d["target"] if routed else topic,
                                    call_id=d["call_id"], cseq=d["cseq"], from_tag=d["from_tag"],
                                    to="<%s>;tag=%s" % (topic, d["to_tag"]),
                                    headers=["Event: %s" % ev, "Expires: %d" % expires] +
                                    (["Route: %s" % x for x in d["route"]] if routed else []))
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
        return [r for r in self.received if r.method == "NOTIFY" and r.seq is None and
                r.cpim is None and not r.event.lower().startswith("presence")]

    def presence_notifies(self):
        return [r for r in self.received if r.method == "NOTIFY" and
                r.event.lower().startswith("presence")]

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


def options(transport, host, port, timeout=1.0, user="ping"):
    """An OPTIONS to the server itself (no user in the Request-URI): its answer, or None (no
    answer, or no connection)."""
    try:
        c = Conn(transport, host, port, timeout)
        try:
            return c.transact(c.request("OPTIONS", user=user, ruri="sip:%s" % c.server_hostport),
                              timeout)
        finally:
            c.close()
    except (OSError, ValueError):
        return None


def ping(transport, host, port, timeout=1.0):
    r = options(transport, host, port, timeout)
    return r is not None and r.status == 200


class Checker:
    """Collects assertion results so one run reports every failure, not just the first."""

    def __init__(self, name):
        self.name = name
        self.failures = 0

    def ok(self, cond, what, detail=None):
        print("%s: %s - %s" % ("PASS" if cond else "FAIL", self.name, what), flush=True)
        if not cond and detail is not None:
            print("    " + str(detail).replace("\n", "\n    "), flush=True)
        if not cond:
            self.failures += 1
        return cond

    def done(self):
        print("%s: %d failure(s)" % (self.name, self.failures), flush=True)
        sys.exit(1 if self.failures else 0)


def show(req, resp):
    """Request and response text for a failure report."""
    r = resp.summary() if resp is not None else "(no response)"
    if isinstance(req, bytes):
        req = req.decode("utf-8", "replace")
    return "--- sent ---\n%s\n--- got ---\n%s" % (req, r)


def main(argv):
    if len(argv) >= 4 and argv[0] == "ping":
        t = float(argv[4]) if len(argv) > 4 else 1.0
        return 0 if ping(argv[1], argv[2], int(argv[3]), t) else 1
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
