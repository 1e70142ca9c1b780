#!/bin/bash
# t_ipv6_udp.sh - sipd listening on udp:[::1]:PORT: OPTIONS and REGISTER work over IPv6 (SIPp).
. "$(dirname "$0")/lib.sh"

"$PYTHON" -c 'import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))' ||
    bail "IPv6 loopback ::1 is not usable on this machine"
SIP_PORT=$(pick_port)
SIPD_LISTEN="udp:[::1]:$SIP_PORT" SIPD_PING="udp ::1 $SIP_PORT" sipd_start
export SIPP_LOCAL=::1 SIPP_TARGET="[::1]:$SIP_PORT"
sipp_ok "OPTIONS over UDP/IPv6 -> 200 with Allow, Supported, Accept" options_v6 options.xml udp \
    -key user "$(new_user v6opt)"
sipp_ok "REGISTER over UDP/IPv6 -> 200 listing the binding" register_v6 register_basic.xml udp \
    -key user "$(new_user v6reg)"
sipd_stop
finish
