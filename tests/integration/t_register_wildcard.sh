#!/bin/bash
# t_register_wildcard.sh - 'Contact: *' removes all bindings only with Expires 0 and no other Contact.
# Memory store; UDP and TCP. Scenario(s) and checks: register_cases.sh case_register_wildcard.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

sipd_start
case_register_wildcard
sipd_stop
finish
