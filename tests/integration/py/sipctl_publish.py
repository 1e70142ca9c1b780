#!/usr/bin/env python3
"""sipctl_publish.py TRANSPORT HOST PORT USER NOTE - one presence PUBLISH (RFC 3903) of USER's
status "open" with NOTE, 60 s, so that sipctl's `presence` has a publication and a document to
show. Prints the answer's status and SIP-ETag; exit 0 when it was 200."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from presence_common import Conn, pidf, publish  # noqa: E402

transport, host, port, user, note = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], \
    sys.argv[5]
conn = Conn(transport, host, port)
_, r = publish(conn, user, body=pidf("sip:%s@example.com" % user, [("t1", "open", note)]).encode(),
               expires=60)
print("PUBLISH -> %s etag %s" % (r.status if r else None, r.get("sip-etag") if r else None))
sys.exit(0 if r is not None and r.status == 200 else 1)
