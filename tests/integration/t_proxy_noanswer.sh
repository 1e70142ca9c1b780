#!/bin/bash
# t_proxy_noanswer.sh - nobody answers (RFC 3261 §16.6 step 11 Timer C, §17.1.1.2 Timer B):
#  1. --set proxy.timer_c_ms=1000: the callee rings (180) and never answers; 1 s later the proxy
#     CANCELs the branch (§16.8) and the caller gets 487 (or 408), about 1 s after the 180.
#     SIPp callee scenarios/proxy_uas_ring_cancel.xml; caller py/proxy_call.py. UDP and TCP.
#  2. --set sip.t1_ms=50 (Timer B = 64*T1 = 3.2 s): the callee never sends anything, not even
#     100 (py/proxy_device.py silent). Over UDP it receives the INVITE 7 times (Timer A: 50, 100,
#     200... ms apart) and no CANCEL (no provisional: §9.1); over TCP exactly once (no
#     retransmission over a reliable transport, §17.1.1.2). The caller gets 100 at once and 408
#     after about 3.2 s.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

sipd_start --set proxy.timer_c_ms=1000
for tr in udp tcp; do
    px_new_cid
    user=$(new_user tc)
    px_register_uas "uas_c_$tr" proxy_uas_ring_cancel.xml "$tr" "$user" 1 ""
    check "timer C, callee over $tr: registered" px_wait_bindings "$user" 1
    px_call "timer C, callee over $tr: the caller gets 487/408 about 1 s after the 180" udp \
        --to "$user" --call-id "$PX_CID1" --expect 487,408 --expect-100 --min-time 0.9 \
        --max-time 4 --name "timer C/$tr"
    px_bg_ok "timer C, callee over $tr: the ringing callee got CANCEL, answered 487, got ACK" "uas_c_$tr"
    px_msg "timer C, callee over $tr: one CANCEL, from the proxy's INVITE transaction" \
        req "$(px_log "uas_c_$tr")" CANCEL --count 1 --vias 1 --branch-of INVITE
    px_msg "timer C, callee over $tr: the CANCEL came 1 s (timer_c_ms) after the 180" \
        before "$(px_log "uas_c_$tr")" "sent 180" "$(px_log "uas_c_$tr")" "recv CANCEL" --gap 0.9:2.0
done
sipd_stop

SIP_PORT=
sipd_start --set sip.t1_ms=50
for tr in udp tcp; do
    user=$(new_user tb)
    if [ "$tr" = udp ]; then copies=6:8; else copies=1:1; fi
    px_py_bg "silent_$tr" proxy_device.py silent "$tr" "$SIP_HOST" "$SIP_PORT" --user "$user" \
        --domain "$DOMAIN" --duration 6 --expect-invites "$copies" --expect-cancel 0 \
        --name "silent callee/$tr"
    check "timer B, callee over $tr: registered" px_wait_bindings "$user" 1
    px_call "timer B, callee over $tr: 100 at once, 408 after 64*T1 = 3.2 s" udp --to "$user" \
        --expect 408 --expect-100 --min-time 3.0 --max-time 6 --name "timer B/$tr"
    px_bg_ok "timer B, callee over $tr: INVITE copies $copies, no CANCEL" "silent_$tr"
done
sipd_stop
finish
