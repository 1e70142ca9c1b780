#!/bin/bash
# t_proxy_busy.sh - a busy callee: its 486 reaches the caller, and the caller's ACK for that 486
# is absorbed by the proxy (RFC 3261 §16.7: the ACK for a non-2xx is hop by hop): the callee
# only ever sees the proxy's own ACK (one Via, the branch of the proxy's INVITE).
# SIPp: scenarios/proxy_uas_reject.xml (callee, registers itself) and proxy_uac_busy.xml (caller).
# UDP, TCP, and caller UDP / callee TCP.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

sipd_start
for pair in udp:udp tcp:tcp udp:tcp; do
    ctr=${pair%%:*} etr=${pair##*:}
    tag=${ctr}_$etr
    px_new_cid
    user=$(new_user busy)
    px_register_uas "uas_$tag" proxy_uas_reject.xml "$etr" "$user" 1 ""
    check "$tag: the callee ($etr) registered" px_wait_bindings "$user" 1
    sipp_ok "$tag: caller ($ctr) gets 486 Busy Here and ACKs it" \
        "uac_$tag" proxy_uac_busy.xml "$ctr" -cid_str "$PX_CID" -s "$user"
    px_bg_ok "$tag: callee got the INVITE, sent 486, got an ACK" "uas_$tag"
    px_msg "$tag: every ACK at the callee is the proxy's own (1 Via, branch of its INVITE)" \
        req "$(px_log "uas_$tag")" ACK --min 1 --all --vias 1 --branch-of INVITE
    px_msg "$tag: the caller got 100 Trying from the proxy" resp "$(px_log "uac_$tag")" 100 --min 1
    px_msg "$tag: the caller's 486 has exactly its own Via" resp "$(px_log "uac_$tag")" 486 --vias 1
done
sipd_stop
finish
