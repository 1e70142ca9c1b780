#!/bin/bash
# t_register_expires_limits.sh - no Expires at all gets registrar.default_expires (3600); more than
# registrar.max_expires (86400) is cut down to it. UDP and TCP.
# Scenario and checks: register_cases.sh case_register_expires_limits.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

sipd_start
case_register_expires_limits
sipd_stop
finish
