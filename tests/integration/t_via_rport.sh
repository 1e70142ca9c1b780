#!/bin/bash
# t_via_rport.sh - responses carry ;received and ;rport in the top Via (RFC 3261 §18.2.1,
# RFC 3581) and go where those say. UDP and TCP. Python client py/via.py.
. "$(dirname "$0")/lib.sh"

sipd_start
for tr in udp tcp; do
    check "Via received/rport over $tr (py/via.py)" run_py via.py "$tr" "$SIP_HOST" "$SIP_PORT"
done
sipd_stop
finish
