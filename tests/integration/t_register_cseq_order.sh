#!/bin/bash
# t_register_cseq_order.sh - a lower or equal CSeq from the same Call-ID in a new transaction
# gets 400 and leaves the binding alone (RFC 3261 §10.3 step 7). UDP and TCP.
# Python client py/cseq_order.py: SIPp discards a response whose CSeq is lower than one it saw.
. "$(dirname "$0")/lib.sh"

sipd_start
for tr in udp tcp; do
    check "out-of-order CSeq over $tr (py/cseq_order.py)" run_py cseq_order.py "$tr" "$SIP_HOST" "$SIP_PORT"
done
sipd_stop
finish
