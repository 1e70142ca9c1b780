#!/bin/bash
# t_register_expiry.sh - bindings disappear when they expire (registrar.min_expires=1, expires=2).
# Memory store; UDP and TCP. Scenario(s) and checks: register_cases.sh case_register_expiry.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

sipd_start --set registrar.min_expires=1
case_register_expiry
sipd_stop
finish
