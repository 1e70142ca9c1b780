#!/bin/bash
# t_presence_expiry.sh - expiry: a publication of 2 s expires -> watchers get NOTIFY closed and its
# entity-tag then gets 412; a subscription of 2 s ends with NOTIFY terminated;reason=timeout.
# Memory store; UDP and TCP. Client: py/presence_flow.py expiry.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/presence_cases.sh"

sipd_start "${PRESENCE_FLAGS[@]}"
presence_cases "presence " expiry
sipd_stop
finish
