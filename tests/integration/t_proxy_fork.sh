#!/bin/bash
# t_proxy_fork.sh - parallel forking to the devices of one user (RFC 3261 §16.5-16.7, §16.10):
#  1. devices A (answers after 180 + 200 ms) and B (rings, never answers) registered for the same
#     AOR with the same q: both get the INVITE; A's 200 reaches the caller; B gets CANCEL (from
#     the proxy's INVITE transaction to B) and its 487 stays at the proxy. UDP; A TCP + B UDP.
#  2. two ringing devices (UDP, TCP), the caller (py/proxy_call.py: several 180s, which a SIPp
#     scenario cannot take in any order) CANCELs: both devices get CANCEL, the caller 487.
#  3. two devices that both answer 200 without any provisional (so the proxy cannot CANCEL the
#     second one, §9.1): the proxy forwards BOTH 2xx (§16.7 step 5); the caller (py/proxy_call.py)
#     ACKs and BYEs both dialogs along their route sets; each device gets exactly one ACK and one
#     BYE and no CANCEL (py/proxy_device.py answer).
# SIPp devices register themselves (same -cid_str for both and the caller; REGISTER CSeq 1 and 2).
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

sipd_start

# 1. one answers, the other is cancelled
for pair in udp:udp tcp:udp; do
    atr=${pair%%:*} btr=${pair##*:}
    tag=a${atr}_b$btr
    px_new_cid
    user=$(new_user fork)
    px_register_uas "A_$tag" proxy_uas_answer.xml "$atr" "$user" 1 ""
    px_register_uas "B_$tag" proxy_uas_ring_cancel.xml "$btr" "$user" 2 ""
    check "$tag: both devices registered (2 bindings)" px_wait_bindings "$user" 2
    sipp_ok "$tag: the caller gets A's 200, ACK/BYE through the proxy" \
        "uac_$tag" proxy_uac.xml udp -cid_str "$PX_CID" -s "$user"
    px_bg_ok "$tag: device A answered, got ACK and BYE" "A_$tag"
    px_bg_ok "$tag: device B rang and was CANCELled (200 + 487, ACK)" "B_$tag"
    px_msg "$tag: B's CANCEL belongs to the proxy's INVITE to B" \
        req "$(px_log "B_$tag")" CANCEL --count 1 --vias 1 --branch-of INVITE
    px_msg "$tag: the caller got one 200 only" resp "$(px_log "uac_$tag")" 200 --min 1 --all \
        --vias 1
    px_msg "$tag: the caller never saw B's 487" resp "$(px_log "uac_$tag")" 487 --count 0
    px_alive "$tag"
done

# 2. the caller cancels two ringing devices
px_new_cid
user=$(new_user fcancel)
px_register_uas A_cancel proxy_uas_ring_cancel.xml udp "$user" 1 ""
px_register_uas B_cancel proxy_uas_ring_cancel.xml tcp "$user" 2 ""
check "cancel: both devices registered (2 bindings)" px_wait_bindings "$user" 2
px_call "cancel: the caller CANCELs after the first 180: 200 for the CANCEL, 487 for the INVITE" \
    udp --to "$user" --call-id "$PX_CID1" --cancel-after-ringing --expect 487 --name caller
px_bg_ok "cancel: device A (udp) got CANCEL, answered 487" A_cancel
px_bg_ok "cancel: device B (tcp) got CANCEL, answered 487" B_cancel

# 3. two 2xx
for tr in udp tcp; do
    user=$(new_user f2xx)
    px_py_bg "dev1_$tr" proxy_device.py answer "$tr" "$SIP_HOST" "$SIP_PORT" --user "$user" \
        --domain "$DOMAIN" --duration 12 --answer-delay 0 --expect-invites 1:9 --expect-ack 1 \
        --expect-bye 1 --expect-cancel 0 --name "dev1/$tr"
    px_py_bg "dev2_$tr" proxy_device.py answer "$tr" "$SIP_HOST" "$SIP_PORT" --user "$user" \
        --domain "$DOMAIN" --duration 12 --answer-delay 0.5 --expect-invites 1:9 --expect-ack 1 \
        --expect-bye 1 --expect-cancel 0 --name "dev2/$tr"
    check "two 2xx over $tr: both devices registered" px_wait_bindings "$user" 2
    px_call "two 2xx over $tr: the caller gets both 200s (two dialogs), ACKs and BYEs each" "$tr" \
        --to "$user" --expect 200 --expect-2xx 2 --linger 2.5 --expect-100 --name "caller/$tr"
    px_bg_ok "two 2xx over $tr: device 1 got one ACK and one BYE, no CANCEL" "dev1_$tr"
    px_bg_ok "two 2xx over $tr: device 2 got one ACK and one BYE, no CANCEL" "dev2_$tr"
    px_alive "two 2xx over $tr"
done

sipd_stop
finish
