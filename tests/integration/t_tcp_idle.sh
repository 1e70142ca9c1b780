#!/bin/bash
# t_tcp_idle.sh - transport.tcp_idle_timeout_s closes idle TCP connections; CRLF keep-alives keep a
# connection open. TCP only. Python client py/tcp_idle.py.
. "$(dirname "$0")/lib.sh"

sipd_start --set transport.tcp_idle_timeout_s=2
check "TCP idle timeout 2 s (py/tcp_idle.py)" run_py tcp_idle.py "$SIP_HOST" "$SIP_PORT" 2
sipd_stop
finish
