#!/usr/bin/env python3
"""im_send.py TRANSPORT HOST PORT FROM_USER TO_AOR TEXT EXPECT - one MESSAGE, its status checked."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Device  # noqa: E402

transport, host, port, user, to, text, expect = sys.argv[1:8]
c = Checker("im send")
d = Device(transport, host, int(port), user)
r = d.publish(to, text)
c.ok(r is not None and r.status == int(expect), "MESSAGE to %s -> %s" % (to, expect), r and r.summary())
d.close()
c.done()
