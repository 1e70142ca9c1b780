#!/usr/bin/env python3
"""from_addr.py SRC_IP TRANSPORT HOST PORT METHOD USER DOMAIN - send one out-of-dialog request
(OPTIONS, REGISTER, MESSAGE...) to HOST:PORT from address SRC_IP (any of 127.0.0.0/8 on
Linux), over udp or tcp, and print the status code of its final answer and its reason phrase
("403 Not a cluster node"), or "timeout". Exit 0 when an answer came."""
import os
import random
import socket
import sys

src, transport, host, port, method, user, domain = sys.argv[1:8]
port = int(port)
kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, kind)
s.settimeout(3.0)
s.bind((src, 0))
s.connect((host, port))
lport = s.getsockname()[1]
branch = "z9hG4bK%08x" % random.getrandbits(32)
uri = "sip:%s" % domain if method == "REGISTER" else "sip:%s@%s" % (user, domain)
aor = "sip:%s@%s" % (user, domain)
lines = [
    "%s %s SIP/2.0" % (method, uri),
    "Via: SIP/2.0/%s %s:%d;branch=%s;rport" % (transport.upper(), src, lport, branch),
    "Max-Forwards: 70",
    "From: <%s>;tag=%08x" % (aor, random.getrandbits(32)),
    "To: <%s>" % aor,
    "Call-ID: %08x@%s" % (random.getrandbits(32), src),
    "CSeq: 1 %s" % method,
    "Contact: <sip:%s@%s:%d;transport=%s>" % (user, src, lport, transport),
    "Expires: 60",
    "Content-Length: 0",
]
s.send(("\r\n".join(lines) + "\r\n\r\n").encode())
buf = b""
try:
    while True:
        data = s.recv(65535)
        if not data:
            break
        buf += data
        while b"\r\n\r\n" in buf:
            head, _, buf = buf.partition(b"\r\n\r\n")
            first = head.split(b"\r\n", 1)[0].decode(errors="replace")
            parts = first.split(" ", 2)
            if len(parts) >= 2 and parts[0] == "SIP/2.0" and not parts[1].startswith("1"):
                print(parts[1] + (" " + parts[2] if len(parts) > 2 else ""))
                sys.exit(0)
except socket.timeout:
    pass
print("timeout")
sys.exit(1)
