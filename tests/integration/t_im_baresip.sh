#!/bin/bash
# t_im_baresip.sh - a real client that knows nothing of the im package (baresip, Debian package
# baresip-core) gets instant messages from the broker as plain RFC 3428 MESSAGEs: one sent while it
# was offline (202, delivered when it registers) and one sent while it is registered (200). The
# MESSAGEs and baresip's 200 answers are read from baresip's SIP trace (-s). UDP.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/baresip_lib.sh"

command -v baresip >/dev/null || bail "baresip not installed (Debian package baresip-core)"
sipd_start
user=$(new_user bs)
check "while $user is offline: MESSAGE -> 202" run_py im_send.py udp "$SIP_HOST" "$SIP_PORT" alice \
    "sip:$user@$DOMAIN" "offline hello $user" 202
baresip_start "$T_DIR/baresip" \
    "<sip:$user@$DOMAIN;transport=udp>;auth_pass=unused;outbound=\"sip:$SIP_HOST:$SIP_PORT;transport=udp\";regint=600"
check "baresip registered with sipd" baresip_wait_for "200 OK.*binding" 20
sleep 0.5
check "while $user is registered: MESSAGE -> 200" run_py im_send.py udp "$SIP_HOST" "$SIP_PORT" alice \
    "sip:$user@$DOMAIN" "live hello $user" 200
check "baresip received the message stored while it was offline" baresip_wait_for "offline hello $user" 15
check "baresip received the live message" baresip_wait_for "live hello $user" 15
baresip_stop
check "the MESSAGEs came to baresip's contact" test "$(grep -ac "^MESSAGE sip:$user" "$BARESIP_OUT")" -ge 2
check "each was delivered once (sipd saw no failed page-mode delivery)" \
    sh -c "! grep -q 'device-unreachable' '$SIPD_LOG'"
sipd_stop
finish
