#!/bin/bash
# t_presence_expiry.sh - expiry: a publication of 2 s expires -> watchers get NOTIFY closed and its
# entity-tag then gets 412; a subscription of 2 s ends with NOTIFY terminated;reason=timeout.
# Memory store; UDP and TCP. Client: py/presence_flow.py expiry.
. "$(dirname "$0")/lib.sh"

sipd_start --set broker.presence_publish_min_expires=2 --set broker.presence_min_expires=2
for scen in expiry; do
    for tr in udp tcp; do
        check "presence $scen over $tr" run_py presence_flow.py "$scen" "$tr" "$SIP_HOST" "$SIP_PORT"
    done
done
sipd_stop
finish
