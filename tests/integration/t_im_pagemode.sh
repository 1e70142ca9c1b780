#!/bin/bash
# t_im_pagemode.sh - registered devices without an im subscription receive page-mode MESSAGE
# (plain clients interoperate); a user with no device online gets 202 and the messages when a
# device registers. Memory store; TCP and UDP. Client: py/im_pagemode.py.
. "$(dirname "$0")/lib.sh"

sipd_start
for tr in tcp udp; do
    check "page mode over $tr (py/im_pagemode.py)" run_py im_pagemode.py "$tr" "$SIP_HOST" "$SIP_PORT" "$(new_user p)"
done
sipd_stop
finish
