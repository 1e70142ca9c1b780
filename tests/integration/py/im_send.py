#!/usr/bin/env python3
"""im_send.py TRANSPORT HOST PORT FROM_USER TO_AOR TEXT EXPECT - one MESSAGE, its status checked."""
import sys

from im_common import Device
from sipclient import Checker

transport, host, port, user, to, text, expect = sys.argv[1:8]
c = Checker("im send")
d = Device(transport, host, int(port), user)
r = d.publish(to, text)
c.ok(r is not None and r.status == int(expect), "MESSAGE to %s -> %s" % (to, expect), r and r.summary())
d.close()
c.done()
