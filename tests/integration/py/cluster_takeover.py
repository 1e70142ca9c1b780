#!/usr/bin/env python3
"""cluster_takeover.py HOST LB RUN MODE NAME:PID:PORT:LOG NAME:PID:PORT:LOG - topic takeover
(docs/im-event-package.md §15.1). MODE kill: the owner is SIGKILLed; MODE drain: its row is set
draining (psql, the PG* environment), and it hands its subscriptions off.

  - Bob's three devices (TCP, UDP, TCP, all through the balancer) subscribe to bob's topic.
  - The broker that took the subscriptions (its log says so) is the topic's owner.
  - Alice publishes to bob through the balancer at 50 messages/s for ~6 s; ~2 s in, the owner is
    SIGKILLed (or drained).
  - Every device then has every message whose publication was answered 2xx (by Im-Seq), in seq
    order, with no gap and at most one duplicate, and never re-subscribed; the NOTIFY CSeq keeps
    increasing in each dialog. Device 3 answers slowly, so that a NOTIFY is outstanding at the
    kill.
  - A refresh from each device after the takeover gets 200 from the surviving broker, and a
    message published after it still arrives.
  - kill: a refresh sent straight to the surviving broker right after the kill, before it took
    the dialog over, waits for the takeover and gets 200.
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Device, cseq_number  # noqa: E402

host, lb, run, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
brokers = []
for spec in sys.argv[5:7]:
    name, pid, port, log = spec.split(":", 3)
    brokers.append({"name": name, "pid": int(pid), "port": int(port), "log": log})
c = Checker("cluster takeover (%s)" % mode)
bob = "bob" + run
bob_aor = "sip:%s@example.com" % bob
devs = [Device("tcp", host, lb, bob, instance="urn:uuid:%s-1" % bob),
        Device("udp", host, lb, bob, instance="urn:uuid:%s-2" % bob),
        Device("tcp", host, lb, bob, instance="urn:uuid:%s-3" % bob)]
for i, d in enumerate(devs):
    r = d.subscribe(bob_aor)
    c.ok(r is not None and r.status == 200, "bob's device %d subscribes through the balancer" % (i + 1),
         r.summary() if r else None)
    rr = r.get_all("record-route") if r is not None else []
    c.ok(any("topic=" in x for x in rr), "device %d: the balancer's Record-Route names the topic" % (i + 1),
         rr)


def holds(b):
    with open(b["log"], errors="replace") as f:
        return len(re.findall(r"im subscription topic=%s " % re.escape(bob_aor), f.read()))


def stop_owner(b):
    if mode == "kill":
        os.kill(b["pid"], signal.SIGKILL)
    else:
        subprocess.run(["psql", "-XtAq", "-c", "update nodes set draining = true where name = '%s'" % b["name"]],
                       check=True, timeout=10)


deadline = time.monotonic() + 3  # the broker logs a subscription just after its 200 left
while time.monotonic() < deadline and not any(holds(b) == 3 for b in brokers):
    time.sleep(0.05)
owner = [b for b in brokers if holds(b) == 3]
c.ok(len(owner) == 1, "one broker holds bob's 3 subscriptions", [(b["name"], holds(b)) for b in brokers])
if len(owner) != 1:
    c.done()
owner = owner[0]
other = [b for b in brokers if b is not owner][0]

stop = threading.Event()
early = {}


def early_refresh(d, cseq):
    """device d's refresh, straight to the other broker (Request-URI: the dead one's Contact)."""
    probe = Device("udp", host, other["port"], d.user, instance=d.instance)
    probe.contact_uri = d.contact_uri
    dlg = d.dialogs[bob_aor]
    t = time.monotonic()
    r, _, _ = probe.send_request("SUBSCRIBE", dlg["target"], call_id=dlg["call_id"], cseq=cseq,
                                 from_tag=dlg["from_tag"], to="<%s>;tag=%s" % (bob_aor, dlg["to_tag"]),
                                 headers=["Event: im", "Expires: 600"], timeout=4.0)
    early["status"] = getattr(r, "status", None)
    early["waited"] = time.monotonic() - t
    probe.close()



def pump(d):
    while not stop.is_set():
        d.pump(0.05)


# device 3 answers each NOTIFY after 30 ms (slower than the 20 ms between messages): its broker
# always has one outstanding when it dies, the NOTIFY that may come again
devs[2].answer = lambda msg: (time.sleep(0.03), 200)[1]
threads = [threading.Thread(target=pump, args=(d,), daemon=True) for d in devs]
for t in threads:
    t.start()

alice = Device("udp", host, lb, "alice" + run)
acked, codes = [], {}
t0 = time.monotonic()
killed_at = None
i = 0
while time.monotonic() - t0 < 6.0:
    i += 1
    due = t0 + i * 0.02
    now = time.monotonic()
    if due > now:
        time.sleep(due - now)
    if killed_at is None and time.monotonic() - t0 >= 2.0:
        stop_owner(owner)
        killed_at = i
        if mode == "kill":
            devs[1].dialogs[bob_aor]["cseq"] += 100
            et = threading.Thread(target=early_refresh, args=(devs[1], devs[1].dialogs[bob_aor]["cseq"]),
                                  daemon=True)
            et.start()
    r = alice.publish(bob_aor, "msg %d" % i)
    code = getattr(r, "status", None)
    codes[code] = codes.get(code, 0) + 1
    if code is not None and 200 <= code < 300:
        acked.append(int(r.get("im-seq").split(";")[0]))
c.ok(killed_at is not None, "the owner (%s) was stopped (%s) after %s publications" % (owner["name"], mode, killed_at))
# two thirds (the 200 of 300 this asked before), not a count: how many fit in the 6 s depends on
# the machine (a loaded CI machine sent 95, every one 2xx); at least 50 sent, or it says nothing
c.ok(i >= 50 and len(acked) >= i * 2 // 3, "most of %d publications were answered 2xx" % i, codes)
c.ok(acked == sorted(acked) and len(set(acked)) == len(acked), "the 2xx'd publications have increasing seqs")

if mode == "kill":
    et.join()
    c.ok(early.get("status") == 200, "a refresh reaching the new owner before the takeover waits for it"
         " (%.2f s): 200" % early.get("waited", -1), early)
want = set(acked)
for d in devs:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not want <= {m.seq for m in d.messages()}:
        time.sleep(0.1)
time.sleep(0.5)  # anything still in flight (a duplicate) arrives
stop.set()
for t in threads:
    t.join()

for n, d in enumerate(devs):
    seqs = [m.seq for m in d.messages()]
    got = set(seqs)
    missing = sorted(want - got)
    dups = len(seqs) - len(got)
    gaps = [(a, b) for a, b in zip(sorted(got), sorted(got)[1:]) if b > a + 1]
    ordered = all(b >= a for a, b in zip(seqs, seqs[1:]))
    c.ok(not missing, "device %d received every 2xx'd message (%d)" % (n + 1, len(want)), missing[:20])
    c.ok(not gaps, "device %d: no gap in seq" % (n + 1), gaps)
    c.ok(ordered, "device %d: in seq order (a duplicate repeats the one before)" % (n + 1),
         [(a, b) for a, b in zip(seqs, seqs[1:]) if b < a])
    c.ok(dups <= 1, "device %d: at most one duplicate (%d)" % (n + 1, dups))
    cseqs = [cseq_number(m.msg) for m in d.received if m.method == "NOTIFY"]
    c.ok(all(b > a for a, b in zip(cseqs, cseqs[1:])), "device %d: NOTIFY CSeq increases in the dialog" % (n + 1),
         [(a, b) for a, b in zip(cseqs, cseqs[1:]) if b <= a])

for n, d in enumerate(devs):
    r = d.refresh(bob_aor)
    c.ok(r is not None and r.status == 200, "device %d: a refresh after the takeover gets 200" % (n + 1),
         r.summary() if r else None)
    contact = (r.get("contact") or "") if r is not None else ""
    c.ok(":%d" % other["port"] in contact, "device %d: ... from the new owner %s" % (n + 1, other["name"]),
         contact)

r = alice.publish(bob_aor, "after")
c.ok(r is not None and r.status == 200, "a message after the refreshes: 200", r.summary() if r else None)
last = int(r.get("im-seq").split(";")[0]) if r is not None and r.status == 200 else -1
for n, d in enumerate(devs):
    d.wait_for(lambda d=d: last in [m.seq for m in d.messages()], timeout=5)
    c.ok(last in [m.seq for m in d.messages()], "device %d got it" % (n + 1))
for d in devs + [alice]:
    d.close()
c.done()
