#!/bin/bash
# t_presence_basic.sh - the presence package end to end (RFC 3856, RFC 3903, RFC 6665):
# SUBSCRIBE -> 200 + NOTIFY with a closed PIDF; PUBLISH open -> 200 with SIP-ETag -> NOTIFY open;
# refresh (SIP-If-Match, no body) -> new entity-tag, no NOTIFY; modify -> NOTIFY; stale and unknown
# entity-tags -> 412; remove (Expires 0) -> NOTIFY closed; in-dialog refresh -> 200 + NOTIFY;
# unsubscribe (Expires 0) -> NOTIFY terminated;reason=timeout, then 481.
# Memory store; UDP and TCP. Client: py/presence_flow.py basic.
. "$(dirname "$0")/lib.sh"

sipd_start --set broker.presence_publish_min_expires=2 --set broker.presence_min_expires=2
for scen in basic; do
    for tr in udp tcp; do
        check "presence $scen over $tr" run_py presence_flow.py "$scen" "$tr" "$SIP_HOST" "$SIP_PORT"
    done
done
sipd_stop
finish
