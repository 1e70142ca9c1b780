#!/usr/bin/env python3
"""daemon_dns.py HOST PORT NAME IP - a request whose next hop is a host NAME (resolved by sipd's
resolver thread to IP) is forwarded: a UDP listener on IP answers it 200, the client sees 200.
"""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Conn, Message, reply  # noqa: E402

host, port, name, ip = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = Checker("daemon dns")
lis = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
lis.bind((ip, 0))
lis.settimeout(6)
lport = lis.getsockname()[1]
got = []


def answer():
    try:
        data, addr = lis.recvfrom(65535)
    except OSError:
        return
    m = Message(data)
    got.append(m)
    lis.sendto(reply(m, 200, "OK", to_tag="lis1"), addr)


t = threading.Thread(target=answer)
t.start()
conn = Conn("udp", host, port, timeout=6)
req = conn.request("OPTIONS", ruri="sip:probe@%s:%d" % (name, lport), user="caller")
r = conn.transact(req, 6)
t.join(7)
c.ok(len(got) == 1, "the request reached %s:%d by the name %s" % (ip, lport, name), len(got))
c.ok(r is not None and r.status == 200, "the caller got the listener's 200", r.summary() if r else None)
conn.close()
lis.close()
c.done()
