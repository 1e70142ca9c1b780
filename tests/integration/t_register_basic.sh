#!/bin/bash
# t_register_basic.sh - a REGISTER with one Contact gets 200 listing the binding (RFC 3261 §10.3).
# Memory store; UDP and TCP. Scenario(s) and checks: register_cases.sh case_register_basic.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

sipd_start
case_register_basic
sipd_stop
finish
