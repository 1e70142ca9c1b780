#!/bin/bash
# t_register_two_contacts.sh - bindings from two devices (two Call-IDs) of one AOR are all listed.
# Memory store; UDP and TCP. Scenario(s) and checks: register_cases.sh case_register_two_contacts.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

sipd_start
case_register_two_contacts
sipd_stop
finish
