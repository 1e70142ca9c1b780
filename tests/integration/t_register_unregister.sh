#!/bin/bash
# t_register_unregister.sh - Expires: 0 and ;expires=0 remove bindings; the parameter beats the header.
# Memory store; UDP and TCP. Scenario(s) and checks: register_cases.sh case_register_unregister.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

sipd_start
case_register_unregister
sipd_stop
finish
