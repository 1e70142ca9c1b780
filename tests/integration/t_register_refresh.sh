#!/bin/bash
# t_register_refresh.sh - a refresh (same Call-ID, higher CSeq) replaces the expiry interval.
# Memory store; UDP and TCP. Scenario(s) and checks: register_cases.sh case_register_refresh.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

sipd_start
case_register_refresh
sipd_stop
finish
