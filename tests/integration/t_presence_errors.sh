#!/bin/bash
# t_presence_errors.sh - what the presence package rejects: 489 with Allow-Events for an unknown
# or missing Event on PUBLISH; 400 for an initial PUBLISH without body or a body that is not
# PIDF; 415 for another media type; 406; 423 with Min-Expires. Then, on a node without the proxy
# role (--roles registrar,broker), SUBSCRIBE for an unknown package -> 489 with
# Allow-Events: im, presence and SUBSCRIBE without Event -> 400 (a proxying node forwards other
# packages' SUBSCRIBEs to the user's devices instead), and the basic flow still works there.
# Memory store; UDP and TCP. Client: py/presence_flow.py errors, bad_event, basic.
. "$(dirname "$0")/lib.sh"

sipd_start --set broker.presence_publish_min_expires=2 --set broker.presence_min_expires=2
for tr in udp tcp; do
    check "presence errors over $tr" run_py presence_flow.py errors "$tr" "$SIP_HOST" "$SIP_PORT"
done
sipd_stop
sipd_start --roles registrar,broker --set broker.presence_publish_min_expires=2 \
    --set broker.presence_min_expires=2
for scen in bad_event basic; do
    for tr in udp tcp; do
        check "broker-only node: presence $scen over $tr" run_py presence_flow.py "$scen" "$tr" \
            "$SIP_HOST" "$SIP_PORT"
    done
done
sipd_stop
finish
