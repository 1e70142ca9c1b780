#!/usr/bin/env python3
"""im_restart.py publish|verify HOST PORT USER FILE - no acknowledged message is lost.

publish: sends up to 400 MESSAGEs to USER's topic over TCP, one after the other, and appends
  "seq<TAB>text" to FILE for every one answered 2xx (the acknowledgement); stops at the first
  request without an answer (the server was killed) and exits 0.
verify: subscribes to USER's topic with since=0 and checks that every acknowledged message is
  there, at its seq, with its text, and that seqs are dense from 1.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Device  # noqa: E402

mode, host, port, user, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
aor = "sip:%s@example.com" % user
if mode == "publish":
    d = Device("tcp", host, port, "writer" + user)
    with open(path, "a") as f:
        for i in range(1, 401):
            text = "durable %d" % i
            try:
                r = d.publish(aor, text)
            except OSError:
                break
            if r is None:
                break
            if 200 <= r.status < 300:
                f.write("%s\t%s\n" % (r.get("im-seq").split(";")[0], text))
                f.flush()
            time.sleep(0.005)
    sys.exit(0)

c = Checker("im restart")
acked = [line.rstrip("\n").split("\t") for line in open(path) if line.strip()]
c.ok(len(acked) > 0, "some messages were acknowledged before the kill (%d)" % len(acked))
d = Device("tcp", host, port, user, instance="urn:uuid:verify-" + user)
r = d.subscribe(aor, since=0)
c.ok(r is not None and r.status == 200, "subscribe with since=0 after the restart", r and r.summary())
want_last = max(int(s) for s, _ in acked) if acked else 0
d.wait_for(lambda: len(d.messages()) >= want_last, timeout=20)
got = {m.seq: m.body.decode() for m in d.messages()}
missing = [(s, t) for s, t in acked if got.get(int(s)) != t]
c.ok(not missing, "every acknowledged message is stored at its seq (%d checked)" % len(acked), missing[:5])
seqs = [m.seq for m in d.messages()]
c.ok(seqs == list(range(1, len(seqs) + 1)), "seqs dense from 1 (%d messages)" % len(seqs), seqs[:10])
d.close()
c.done()
