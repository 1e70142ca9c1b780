#!/bin/bash
# t_register_q.sh - q-values given with a Contact are listed back with the binding.
# Memory store; UDP and TCP. Scenario(s) and checks: register_cases.sh case_register_q.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

sipd_start
case_register_q
sipd_stop
finish
