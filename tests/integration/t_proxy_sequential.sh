#!/bin/bash
# t_proxy_sequential.sh - q-values order the targets (RFC 3261 §16.6, §16.7 step 10 / RFC 3261
# §16.5 "sequential search by q"): every contact of the highest q is tried (in parallel); the next
# q group only once all of that group failed with a non-2xx, non-6xx final.
#  1. A q=1.0 rejects 480, B q=0.5 answers: B's INVITE arrives only after A's 480 (traces'
#     timestamps); the caller gets B's 200 (SIPp). A/B over UDP/UDP and TCP/UDP.
#  2. A1 and A2 q=1.0 reject 486 and 480 in parallel, then B q=0.5 answers.
#  3. A q=1.0 answers: B q=0.5 (py/proxy_device.py silent) never sees a request.
#  4. A q=1.0 480, B q=0.5 486: the caller gets the best of all branches, a 4xx (480 or 486).
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

sipd_start

# 1.
for pair in udp:udp tcp:udp; do
    atr=${pair%%:*} btr=${pair##*:}
    tag=a${atr}_b$btr
    px_new_cid
    user=$(new_user seq)
    px_register_uas "A_$tag" "$(px_reject_scenario 480 'Temporarily Unavailable')" "$atr" "$user" 1 ";q=1.0"
    px_register_uas "B_$tag" proxy_uas_answer.xml "$btr" "$user" 2 ";q=0.5"
    check "$tag: both devices registered" px_wait_bindings "$user" 2
    sipp_ok "$tag: A (q=1.0) rejects 480, B (q=0.5) answers: the caller gets 200, ACK, BYE" \
        "uac_$tag" proxy_uac.xml udp -cid_str "$PX_CID" -s "$user"
    px_bg_ok "$tag: A got the INVITE first and sent 480 (ACKed by the proxy)" "A_$tag"
    px_bg_ok "$tag: B got the INVITE, answered, got ACK and BYE" "B_$tag"
    px_msg "$tag: A's 480 was sent before B received the INVITE" \
        before "$(px_log "A_$tag")" "sent 480" "$(px_log "B_$tag")" "recv INVITE"
    px_msg "$tag: B received exactly one INVITE" req "$(px_log "B_$tag")" INVITE --count 1
    px_msg "$tag: the caller never saw the 480" resp "$(px_log "uac_$tag")" 480 --count 0
done

# 2.
px_new_cid
user=$(new_user seq2)
px_register_uas A1 "$(px_reject_scenario 486 'Busy Here')" udp "$user" 1 ";q=1.0"
px_register_uas A2 "$(px_reject_scenario 480 'Temporarily Unavailable')" udp "$user" 2 ";q=1.0"
px_register_uas B proxy_uas_answer.xml udp "$user" 3 ";q=0.5"
check "group: three devices registered" px_wait_bindings "$user" 3
sipp_ok "group: A1 486 and A2 480 (q=1.0), then B (q=0.5) answers: the caller gets 200" \
    uac_group proxy_uac.xml udp -cid_str "$PX_CID" -s "$user"
px_bg_ok "group: A1 sent 486" A1
px_bg_ok "group: A2 sent 480" A2
px_bg_ok "group: B answered" B
px_msg "group: B's INVITE came after A1's 486" before "$(px_log A1)" "sent 486" "$(px_log B)" "recv INVITE"
px_msg "group: B's INVITE came after A2's 480" before "$(px_log A2)" "sent 480" "$(px_log B)" "recv INVITE"

# 3.
px_new_cid
user=$(new_user seq3)
px_register_uas A3 proxy_uas_answer.xml udp "$user" 1 ";q=1.0"
px_py_bg B3 proxy_device.py silent udp "$SIP_HOST" "$SIP_PORT" --user "$user" --domain "$DOMAIN" \
    --q 0.5 --duration 6 --expect-nothing --name "B q=0.5"
check "first answers: both devices registered" px_wait_bindings "$user" 2
sipp_ok "first answers: A (q=1.0) answers: the caller gets 200" uac_3 proxy_uac.xml udp \
    -cid_str "$PX_CID" -s "$user"
px_bg_ok "first answers: A answered" A3
px_bg_ok "first answers: B (q=0.5) never got a request" B3

# 4.
px_new_cid
user=$(new_user seq4)
px_register_uas A4 "$(px_reject_scenario 480 'Temporarily Unavailable')" udp "$user" 1 ";q=1.0"
px_register_uas B4 "$(px_reject_scenario 486 'Busy Here')" udp "$user" 2 ";q=0.5"
check "all reject: both devices registered" px_wait_bindings "$user" 2
px_call "all reject: 480 (q=1.0) then 486 (q=0.5): the caller gets a 4xx of them" udp --to "$user" \
    --call-id "$PX_CID1" --expect 480,486 --name "all reject"
px_bg_ok "all reject: A sent 480" A4
px_bg_ok "all reject: B sent 486" B4
px_msg "all reject: B's INVITE came after A's 480" before "$(px_log A4)" "sent 480" "$(px_log B4)" "recv INVITE"

sipd_stop
finish
