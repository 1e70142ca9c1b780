#!/bin/bash
# t_register_query.sh - a REGISTER without Contact lists the current bindings (RFC 3261 §10.2.3).
# Memory store; UDP and TCP. Scenario(s) and checks: register_cases.sh case_register_query.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

sipd_start
case_register_query
sipd_stop
finish
