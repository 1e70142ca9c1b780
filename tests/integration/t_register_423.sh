#!/bin/bash
# t_register_423.sh - an interval below registrar.min_expires gets 423 with Min-Expires.
# Memory store; UDP and TCP. Scenario(s) and checks: register_cases.sh case_register_423.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

sipd_start
case_register_423
sipd_stop
finish
