#!/bin/bash
# t_presence_compose.sh - several publishers of one presentity combine into one document
# (docs/presence.md: every tuple, newest publication first, a tuple id used twice keeps the newest);
# a fetch (SUBSCRIBE Expires 0) gets the state in one terminated NOTIFY; a watcher that answers a
# NOTIFY with 481 loses its subscription (RFC 6665 §4.2.2).
# Memory store; UDP and TCP. Client: py/presence_flow.py compose, fetch, reject.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/presence_cases.sh"

sipd_start "${PRESENCE_FLAGS[@]}"
presence_cases "presence " compose fetch reject
sipd_stop
finish
