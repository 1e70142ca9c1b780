#!/usr/bin/env python3
"""proxy_msglog.py - assertions on SIPp message traces (-trace_msg), to check what went through
the proxy beyond what a SIPp scenario can say.

    proxy_msglog.py req LOG METHOD [checks...]    requests METHOD that SIPp received
    proxy_msglog.py resp LOG CODE [checks...]     responses CODE that SIPp received
    proxy_msglog.py before LOG1 WHAT1 LOG2 WHAT2 [--gap MIN:MAX]
                                                  the first WHAT1 in LOG1 happened before the
                                                  first WHAT2 in LOG2 (WHAT: "recv INVITE",
                                                  "sent 480", ...) [MIN..MAX seconds before]
checks (on the first matching message unless --all):
  --count N | --min N       how many such messages were received
  --rr N                    number of Record-Route values
  --rr-tcp N                ... of which carry ;transport=tcp
  --route N                 number of Route values (0: the proxy removed its own)
  --vias N                  number of Via values
  --max-forwards N
  --branch-of METHOD        top Via branch equals that of the first received request METHOD
                            (an ACK for a non-2xx is hop by hop: it belongs to the proxy's INVITE
                            client transaction, RFC 3261 §17.1.1.3)
  --has HEADER / --lacks HEADER
  --rr-first-re RE          the first (top) Record-Route value matches RE
  --index I                 check the I-th matching message (0 = the first)
  --all                     apply the checks to every matching message
Exit 0 when every check passed; each failure prints the message concerned.
"""

import argparse
import os
import re
import sys
from datetime import datetime, timedelta

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sipclient import Checker, Message, request_method, via_branch  # noqa: E402

SEP = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\s*$")
DIR = re.compile(r"^(UDP|TCP|TLS|SCTP) message (sent|received)")


def parse(path):
    """[(time, 'sent'|'recv', Message)] in file order."""
    out = []
    try:
        text = open(path, "rb").read().decode("utf-8", "replace")
    except OSError as e:
        print("cannot read %s: %s" % (path, e))
        return out
    blocks = []
    cur = None
    for line in text.split("\n"):
        m = SEP.match(line)
        if m:
            if cur:
                blocks.append(cur)
            cur = [datetime.strptime(m.group(1)[:26], "%Y-%m-%d %H:%M:%S.%f"), []]
            continue
        if cur is not None:
            cur[1].append(line)
    if cur:
        blocks.append(cur)
    for ts, lines in blocks:
        if not lines:
            continue
        d = DIR.match(lines[0])
        if not d:
            continue
        body = "\n".join(lines[1:]).lstrip("\n")
        # the trace writes the message with its CRLFs plus a newline per line; normalise
        raw = body.replace("\r\n", "\n").replace("\n", "\r\n").rstrip("\r\n")
        head, sep, rest = raw.partition("\r\n\r\n")
        raw = head + "\r\n\r\n" + (rest + "\r\n" if rest else "")
        try:
            msg = Message(raw.encode())
        except ValueError:
            continue
        out.append((ts, "sent" if d.group(2) == "sent" else "recv", msg))
    return out


def matches(msg, what):
    """what: 'INVITE' (a request) or '480' (a response code)."""
    if what.isdigit():
        return msg.status == int(what)
    return request_method(msg) == what.upper()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["req", "resp", "before"])
    ap.add_argument("args", nargs="+")
    ap.add_argument("--count", type=int)
    ap.add_argument("--min", type=int)
    ap.add_argument("--rr", type=int)
    ap.add_argument("--rr-tcp", type=int)
    ap.add_argument("--route", type=int)
    ap.add_argument("--vias", type=int)
    ap.add_argument("--max-forwards", type=int)
    ap.add_argument("--branch-of")
    ap.add_argument("--has", action="append", default=[])
    ap.add_argument("--lacks", action="append", default=[])
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument("--rr-first-re")
    ap.add_argument("--gap")
    ap.add_argument("--name", default="msglog")
    a = ap.parse_args()
    ck = Checker(a.name)

    if a.kind == "before":
        log1, w1, log2, w2 = a.args
        d1, m1 = w1.split()
        d2, m2 = w2.split()
        e1 = [(t, m) for t, d, m in parse(log1) if d == d1 and matches(m, m1)]
        e2 = [(t, m) for t, d, m in parse(log2) if d == d2 and matches(m, m2)]
        if ck.ok(e1 and e2, "both events happened: '%s' (%d) and '%s' (%d)"
                 % (w1, len(e1), w2, len(e2))):
            # the two logs are written by different processes: SIPp stamps "sent" after
            # sendto() returns, so the receiver may log first by a few microseconds. 20 ms of
            # tolerance still tells sequential from parallel (the rejecting scenarios pause 500 ms).
            skew = timedelta(milliseconds=20)
            ck.ok(e1[0][0] < e2[0][0] + skew, "'%s' at %s before '%s' at %s (20 ms tolerance)"
                  % (w1, e1[0][0].time(), w2, e2[0][0].time()))
            if a.gap:
                lo, _, hi = a.gap.partition(":")
                gap = (e2[0][0] - e1[0][0]).total_seconds()
                ck.ok(float(lo) <= gap <= float(hi), "'%s' %.3fs after '%s' (expected %s..%s s)"
                      % (w2, gap, w1, lo, hi))
        ck.done()

    log, what = a.args
    msgs = [m for t, d, m in parse(log) if d == "recv" and matches(m, what)
            and (a.kind == "resp" or request_method(m) is not None)]
    n = len(msgs)
    if a.count is not None:
        ck.ok(n == a.count, "%s received %d time(s) (got %d)" % (what, a.count, n),
              "\n".join(m.summary() for m in msgs))
    if a.min is not None:
        ck.ok(n >= a.min, "%s received at least %d time(s) (got %d)" % (what, a.min, n))
    if not msgs:
        if a.count != 0:
            ck.ok(False, "a %s was received at all (trace %s)" % (what, log))
        ck.done()
    ref_branch = None
    if a.branch_of:
        ref = [m for t, d, m in parse(log) if d == "recv" and request_method(m) == a.branch_of]
        ref_branch = via_branch(ref[0].get("via")) if ref else None
    if not a.all and a.index >= len(msgs):
        ck.ok(False, "a %s number %d was received (got %d)" % (what, a.index + 1, len(msgs)))
        ck.done()
    for m in (msgs if a.all else [msgs[a.index]]):
        s = m.summary()
        label = "%s (CSeq %s)" % (what, m.get("cseq"))
        if a.rr is not None:
            ck.ok(m.count("record-route") == a.rr, "%s has %d Record-Route value(s) (got %d)"
                  % (label, a.rr, m.count("record-route")), s)
        if a.rr_tcp is not None:
            n_tcp = sum(1 for v in m.get_all("record-route") if "transport=tcp" in v.lower())
            ck.ok(n_tcp == a.rr_tcp, "%s has %d Record-Route value(s) with transport=tcp (got %d)"
                  % (label, a.rr_tcp, n_tcp), s)
        if a.rr_first_re is not None:
            rrs = m.get_all("record-route")
            ck.ok(bool(rrs) and re.search(a.rr_first_re, rrs[0], re.I) is not None,
                  "%s top Record-Route matches /%s/ (got %r)" % (label, a.rr_first_re, rrs), s)
        if a.route is not None:
            ck.ok(m.count("route") == a.route, "%s has %d Route value(s) (got %d)"
                  % (label, a.route, m.count("route")), s)
        if a.vias is not None:
            ck.ok(m.count("via") == a.vias, "%s has %d Via value(s) (got %d)"
                  % (label, a.vias, m.count("via")), s)
        if a.max_forwards is not None:
            mf = m.get("max-forwards")
            ck.ok(mf is not None and mf.strip() == str(a.max_forwards),
                  "%s has Max-Forwards %d (got %s)" % (label, a.max_forwards, mf), s)
        if a.branch_of:
            b = via_branch(m.get("via"))
            ck.ok(ref_branch is not None and b == ref_branch,
                  "%s top Via branch %s is that of the %s (%s): hop-by-hop from the proxy"
                  % (label, b, a.branch_of, ref_branch), s)
        for h in a.has:
            ck.ok(m.get(h) is not None, "%s has %s" % (label, h), s)
        for h in a.lacks:
            ck.ok(m.get(h) is None, "%s has no %s" % (label, h), s)
    ck.done()


if __name__ == "__main__":
    main()
