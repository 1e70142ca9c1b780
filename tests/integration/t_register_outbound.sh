#!/bin/bash
# t_register_outbound.sh - +sip.instance and reg-id are stored and listed back (RFC 5626).
# Memory store; UDP and TCP. Scenario(s) and checks: register_cases.sh case_register_outbound.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

sipd_start
case_register_outbound
sipd_stop
finish
