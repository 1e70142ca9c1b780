#!/bin/bash
# t_presence_basic.sh - the presence package end to end (RFC 3856, RFC 3903, RFC 6665):
# SUBSCRIBE -> 200 + NOTIFY with a closed PIDF; PUBLISH open -> 200 with SIP-ETag -> NOTIFY open;
# refresh (SIP-If-Match, no body) -> new entity-tag, no NOTIFY; modify -> NOTIFY; stale and unknown
# entity-tags -> 412; remove (Expires 0) -> NOTIFY closed; in-dialog refresh -> 200 + NOTIFY;
# unsubscribe (Expires 0) -> NOTIFY terminated;reason=timeout, then 481.
# Memory store; UDP and TCP. Client: py/presence_flow.py basic.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/presence_cases.sh"

sipd_start "${PRESENCE_FLAGS[@]}"
presence_cases "presence " basic
sipd_stop
finish
