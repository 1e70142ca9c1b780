#!/bin/bash
# t_im_catchup.sh - a device that dropped its connection misses 50 messages and gets exactly those
# 50, in order, by subscribing again with since=; a refresh with since replays in the same dialog;
# unsubscribe and fetch (Expires: 0). Memory store; TCP. Client: py/im_catchup.py.
. "$(dirname "$0")/lib.sh"

sipd_start
check "catch-up with since= (py/im_catchup.py)" run_py im_catchup.py tcp "$SIP_HOST" "$SIP_PORT" "$(new_user c)"
sipd_stop
finish
