#!/bin/bash
# t_register_cseq_order.sh - a lower or equal CSeq from the same Call-ID in a new transaction
# gets 400 and leaves the binding alone (RFC 3261 §10.3 step 7). UDP and TCP.
# Python client py/cseq_order.py: SIPp discards a response whose CSeq is lower than one it saw.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

sipd_start
case_register_cseq_order
sipd_stop
finish
