#!/bin/bash
# t_presence_compose.sh - several publishers of one presentity combine into one document
# (docs/presence.md: every tuple, newest publication first, a tuple id used twice keeps the newest);
# a fetch (SUBSCRIBE Expires 0) gets the state in one terminated NOTIFY; a watcher that answers a
# NOTIFY with 481 loses its subscription (RFC 6665 §4.2.2).
# Memory store; UDP and TCP. Client: py/presence_flow.py compose, fetch, reject.
. "$(dirname "$0")/lib.sh"

sipd_start --set broker.presence_publish_min_expires=2 --set broker.presence_min_expires=2
for scen in compose fetch reject; do
    for tr in udp tcp; do
        check "presence $scen over $tr" run_py presence_flow.py "$scen" "$tr" "$SIP_HOST" "$SIP_PORT"
    done
done
sipd_stop
finish
