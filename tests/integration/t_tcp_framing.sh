#!/bin/bash
# t_tcp_framing.sh - TCP framing: coalesced and split messages, CRLFCRLF keep-alive answered with
# one CRLF (RFC 5626 §3.5.1), responses on the client's own connection, oversize messages
# refused. TCP only. Python client py/tcp_framing.py.
. "$(dirname "$0")/lib.sh"

sipd_start --set transport.max_message_bytes=65536
check "TCP framing (py/tcp_framing.py)" run_py tcp_framing.py "$SIP_HOST" "$SIP_PORT"
sipd_stop
finish
