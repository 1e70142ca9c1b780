#!/usr/bin/env python3
"""sipctl_subscribe.py TRANSPORT HOST PORT USER TOPIC SECONDS - USER's device subscribes to TOPIC
(Event: im) and stays to answer NOTIFYs for SECONDS, so that sipctl's `subs` has a live row to
show. Prints the SUBSCRIBE's status; exit 0 when it was 200."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Device  # noqa: E402

transport, host, port, user, topic, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    sys.argv[4], sys.argv[5], float(sys.argv[6])
d = Device(transport, host, port, user, instance="urn:uuid:%s-sipctl" % user)
r = d.subscribe(topic)
print("SUBSCRIBE %s -> %s" % (topic, r.status if r else None), flush=True)
if r is None or r.status != 200:
    sys.exit(1)
end = time.time() + seconds
while time.time() < end:
    d.pump(0.2)
sys.exit(0)
