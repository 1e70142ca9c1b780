#!/bin/bash
# t_retransmission.sh - a retransmitted request (same branch, same CSeq) is absorbed by the server
# transaction: the last response is sent again, a REGISTER is not processed twice (so no 400
# out-of-order). UDP only: over TCP nobody retransmits and Timer J is 0 (RFC 3261 §17.2.2), so a
# second copy is a new request there. Python client py/retransmit.py.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

sipd_start
case_retransmission
sipd_stop
finish
