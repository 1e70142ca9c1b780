#!/bin/bash
# t_malformed.sh - requests missing Call-ID/CSeq/From/To/Via/Max-Forwards get 400 naming the
# problem; garbage never stops the server. UDP and TCP. Python client py/malformed.py.
. "$(dirname "$0")/lib.sh"

sipd_start
for tr in udp tcp; do
    check "malformed input over $tr (py/malformed.py)" run_py malformed.py "$tr" "$SIP_HOST" "$SIP_PORT"
done
check "sipd is still running after all the garbage" kill -0 "$SIPD_PID"
sipd_stop
finish
