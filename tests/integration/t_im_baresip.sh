#!/bin/bash
# t_im_baresip.sh - a real client that knows nothing of the im package (baresip, Debian package
# baresip-core) gets instant messages from the broker as plain RFC 3428 MESSAGEs: one sent while it
# was offline (202, delivered when it registers) and one sent while it is registered (200). The
# MESSAGEs and baresip's 200 answers are read from baresip's SIP trace (-s). UDP.
. "$(dirname "$0")/lib.sh"

command -v baresip >/dev/null || bail "baresip not installed (Debian package baresip-core)"
sipd_start
user=$(new_user bs)
check "while $user is offline: MESSAGE -> 202" run_py im_send.py udp "$SIP_HOST" "$SIP_PORT" alice \
    "sip:$user@$DOMAIN" "offline hello $user" 202
bport=$(pick_port)
conf=$T_DIR/baresip
mkdir -p "$conf"
cat >"$conf/config" <<CFG
poll_method		epoll
sip_listen		$SIP_HOST:$bport
module_path		/usr/lib/baresip/modules
module			account.so
module_app		menu.so
audio_player		nil
audio_source		nil
audio_alert		nil
CFG
echo "<sip:$user@$DOMAIN;transport=udp>;auth_pass=unused;outbound=\"sip:$SIP_HOST:$SIP_PORT;transport=udp\";regint=600" >"$conf/accounts"
log "baresip -s -f $conf -t 8 (listening on $bport)"
timeout -k 3 15 baresip -s -f "$conf" -t 8 </dev/null >"$T_DIR/baresip.out" 2>&1 &
bpid=$!
track_pid "$bpid"
for _ in $(seq 1 50); do grep -qa "200 OK.*binding" "$T_DIR/baresip.out" && break; sleep 0.1; done
check "baresip registered with sipd" grep -qa "200 OK.*binding" "$T_DIR/baresip.out"
sleep 0.5
check "while $user is registered: MESSAGE -> 200" run_py im_send.py udp "$SIP_HOST" "$SIP_PORT" alice \
    "sip:$user@$DOMAIN" "live hello $user" 200
wait "$bpid"
trace=$T_DIR/baresip.out
check "baresip received the message stored while it was offline" grep -qa "offline hello $user" "$trace"
check "baresip received the live message" grep -qa "live hello $user" "$trace"
check "the MESSAGEs came to baresip's contact" test "$(grep -ac "^MESSAGE sip:$user" "$trace")" -ge 2
check "each was delivered once (sipd saw no failed page-mode delivery)" \
    sh -c "! grep -q 'device-unreachable' '$SIPD_LOG'"
sipd_stop
finish
