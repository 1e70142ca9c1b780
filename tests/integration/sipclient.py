#!/usr/bin/env python3
"""sipclient.py - a tiny SIP client for the sipd integration tests (Python 3 stdlib only).

It builds requests, sends them over UDP or TCP (IPv4 or IPv6), reads responses (TCP framing by
Content-Length) and parses them just enough for the tests to assert on status, reason phrase and
headers. Scenario scripts in py/ import it; as a command it answers "is the server up?":

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


class Conn:
    """One client socket toward the server: UDP (connected) or TCP (one connection)."""

    def __init__(self, transport, host, port, timeout=3.0):
        self.transport = transport.lower()
        self.host = host.strip("[]")
        self.port = int(port)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        kind = socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(family, kind)
        self.sock.settimeout(timeout)
        self.sock.bind((self.host, 0))
        self.sock.connect((self.host, self.port))
        self.buf = b""
        self.local_ip, self.local_port = self.sock.getsockname()[:2]

    @property
    def via_host(self):
        return "[%s]" % self.local_ip if ":" in self.local_ip else self.local_ip

    @property
    def server_hostport(self):
        h = "[%s]" % self.host if ":" in self.host else self.host
        return "%s:%d" % (h, self.port)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.transport == "udp":
            self.sock.send(data)
        else:
            self.sock.sendall(data)

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

    def recv(self, timeout=3.0, skip_provisional=True):
        """Next SIP message as Message, or None on timeout/close. Skips 1xx unless told not to."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            msg = self._recv_one(left)
            if msg is None:
                return None
            if skip_provisional and msg.status is not None and msg.status < 200:
                continue
            return msg

    def _recv_one(self, timeout):
        self.sock.settimeout(timeout)
        if self.transport == "udp":
            try:
                data = self.sock.recv(70000)
            except socket.timeout:
                return None
            return Message(data)
        deadline = time.monotonic() + timeout
        while True:
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


def ping(transport, host, port, timeout=1.0):
    try:
        c = Conn(transport, host, port, timeout)
        try:
            r = c.transact(c.request("OPTIONS", user="ping", ruri="sip:%s" % c.server_hostport),
                           timeout)
        finally:
            c.close()
    except (OSError, ValueError):
        return False
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
