#!/bin/bash
# t_register_path.sh - a REGISTER with Path gets it echoed in the 200 (RFC 3327).
# Memory store; UDP and TCP. Scenario(s) and checks: register_cases.sh case_register_path.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

sipd_start
case_register_path
sipd_stop
finish
