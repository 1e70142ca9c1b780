#!/bin/bash
# t_register_load.sh - 200 SIPp users registering at once all get 200 OK.
# Memory store; UDP and TCP. Scenario(s) and checks: register_cases.sh case_register_load.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

sipd_start
case_register_load
sipd_stop
finish
