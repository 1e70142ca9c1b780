#!/usr/bin/env python3
"""proxy_reg.py - registrations for the proxy tests.

    proxy_reg.py register TR HOST PORT --user U --domain D --contact VALUE... [--expires N]
    proxy_reg.py unregister TR HOST PORT --user U --domain D (--contact VALUE... | --all)
    proxy_reg.py wait TR HOST PORT --user U --domain D --count N [--timeout S]

register: one REGISTER (from --bind-port if given) listing every --contact (a full Contact header value, e.g.
"<sip:bob@127.0.0.1:5070>;q=0.5"); exit 0 when the answer is 200.
unregister: Expires 0 for the given contacts, or "Contact: *" for all; exit 0 on 200.
wait: query (REGISTER without Contact) until exactly N bindings are listed; exit 0 if so within
the timeout, 1 otherwise (printing what was listed).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import bindings, Conn, register, register_request, show, transact  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["register", "unregister", "wait"])
    ap.add_argument("transport")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--user", required=True)
    ap.add_argument("--domain", required=True)
    ap.add_argument("--contact", action="append", default=[])
    ap.add_argument("--expires", type=int)
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--count", type=int)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--bind-port", type=int, default=0)
    a = ap.parse_args()

    dev = Conn(a.transport, a.host, a.port, bind_port=a.bind_port, endpoint=True)
    try:
        if a.cmd == "register":
            req = register_request(dev, a.user, a.domain, a.contact, a.expires)
            r = transact(dev, req)
            if r is None or r.status != 200:
                print("register %s: expected 200\n%s" % (a.user, show(req, r)))
                return 1
            return 0
        if a.cmd == "unregister":
            contacts = ["*"] if a.all else a.contact
            r = register(dev, a.user, a.domain, contacts, 0)
            if r is None or r.status != 200:
                print("unregister %s: expected 200, got %s" % (a.user, r and r.start_line))
                return 1
            return 0
        deadline = time.monotonic() + a.timeout
        seen = None
        while time.monotonic() < deadline:
            r = register(dev, a.user, a.domain, [], None, timeout=2.0)
            if r is not None and r.status == 200:
                seen = bindings(r)
                if len(seen) == a.count:
                    return 0
            time.sleep(0.1)
        print("wait: %s@%s has %s binding(s), expected %d: %r"
              % (a.user, a.domain, "?" if seen is None else len(seen), a.count, seen))
        return 1
    finally:
        dev.close()


if __name__ == "__main__":
    sys.exit(main())
