#!/usr/bin/env python3
"""oversize.py - messages over the header and body bounds are refused (docs/limits.md).

    oversize.py TRANSPORT HOST PORT --max-headers N --max-line L --max-body B

sipd must run with limits.max_headers=N, limits.max_header_line_bytes=L and the transport's
limits.max_body_bytes_* = B. Checks: N+1 header fields -> 513; a header line of L+1 bytes ->
513; a body of B+1 bytes -> 413; exactly N fields, and a body of B bytes, are not refused for
their size (any answer but 413/513); an OPTIONS afterwards is answered 200.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Conn, show  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("transport")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--max-headers", type=int, required=True)
    ap.add_argument("--max-line", type=int, required=True)
    ap.add_argument("--max-body", type=int, required=True)
    a = ap.parse_args()
    ck = Checker("oversize/%s" % a.transport)
    ruri = "sip:%s:%d" % (a.host, a.port)

    def one(what, headers, body, want):
        c = Conn(a.transport, a.host, a.port)
        try:
            data = c.request("OPTIONS", ruri=ruri, headers=headers,
                             body=body)
            c.send(data)
            r = c.recv(timeout=2.0)
        finally:
            c.close()
        ok = r is not None and (r.status == want if want else r.status not in (413, 513))
        ck.ok(ok, what, show(data[:400], r))

    std = 7  # Via, Max-Forwards, From, To, Call-ID, CSeq, Content-Length
    fill = ["X-Fill-%d: %d" % (i, i) for i in range(a.max_headers - std)]
    one("%d header fields are fine" % a.max_headers, fill, b"", None)
    one("%d header fields get 513" % (a.max_headers + 1), fill + ["X-One-More: 1"], b"", 513)
    line = "Subject: " + "s" * (a.max_line - len("Subject: ") + 1)
    one("a %d-byte header line gets 513" % (a.max_line + 1), [line], b"", 513)
    ctype = ["Content-Type: text/plain"]
    one("a %d-byte body is fine" % a.max_body, ctype, b"b" * a.max_body, None)
    one("a %d-byte body gets 413" % (a.max_body + 1), ctype, b"b" * (a.max_body + 1), 413)
    c = Conn(a.transport, a.host, a.port)
    r = c.transact(c.request("OPTIONS", ruri=ruri), timeout=2.0)
    c.close()
    ck.ok(r is not None and r.status == 200, "OPTIONS answered 200 afterwards")
    ck.done()


if __name__ == "__main__":
    main()
