#!/bin/bash
# t_presence_errors.sh - what the presence package rejects: 489 with Allow-Events for an unknown
# (or, on PUBLISH, missing) Event; 400 for SUBSCRIBE without Event, initial PUBLISH without body,
# a body that is not PIDF; 415 for another media type; 406; 423 with Min-Expires.
# Memory store; UDP and TCP. Client: py/presence_flow.py errors.
. "$(dirname "$0")/lib.sh"

sipd_start --set broker.presence_publish_min_expires=2 --set broker.presence_min_expires=2
for scen in errors; do
    for tr in udp tcp; do
        check "presence $scen over $tr" run_py presence_flow.py "$scen" "$tr" "$SIP_HOST" "$SIP_PORT"
    done
done
sipd_stop
finish
