#!/bin/bash
# t_presence_errors.sh - what the presence package rejects: 489 with Allow-Events for an unknown
# or missing Event on PUBLISH; 400 for an initial PUBLISH without body or a body that is not
# PIDF; 415 for another media type; 406; 423 with Min-Expires. Then, on a node without the proxy
# role (--roles registrar,broker), SUBSCRIBE for an unknown package -> 489 with
# Allow-Events: im, presence and SUBSCRIBE without Event -> 400 (a proxying node forwards other
# packages' SUBSCRIBEs to the user's devices instead), and the basic flow still works there.
# Memory store; UDP and TCP. Client: py/presence_flow.py errors, bad_event, basic.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/presence_cases.sh"

sipd_start "${PRESENCE_FLAGS[@]}"
presence_cases "presence " errors
sipd_stop
sipd_start --roles registrar,broker "${PRESENCE_FLAGS[@]}"
presence_cases "broker-only node: presence " bad_event basic
sipd_stop
finish
