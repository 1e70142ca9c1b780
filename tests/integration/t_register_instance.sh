#!/bin/bash
# t_register_instance.sh - one device (+sip.instance, no reg-id) that registers again from a new
# TCP connection replaces its binding (RFC 5627 §6); a call through the proxy reaches it once.
# Memory store; TCP. Checks: register_cases.sh case_register_instance_tcp (py/register_instance.py).
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/register_cases.sh"

sipd_start
case_register_instance_tcp
sipd_stop
finish
