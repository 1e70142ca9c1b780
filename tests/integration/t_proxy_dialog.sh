#!/bin/bash
# t_proxy_dialog.sh - requests inside a dialog follow the route set through the proxy (RFC 3261
# §12.2, §16.4, §16.12): after INVITE/200/ACK the caller re-INVITEs (CSeq 2) and ACKs, then the
# CALLEE sends the BYE (the other direction). SIPp: scenarios/proxy_uac_reinvite.xml (caller),
# proxy_uas_reinvite.xml (callee, registers itself). Checked on the traces: the re-INVITE and
# its ACK reach the callee through the proxy (2 Vias) without Route (the proxy removed its own)
# and without a new Record-Route (in-dialog); the callee's BYE reaches the caller through the
# proxy, also without Route. UDP, TCP, caller UDP / callee TCP.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

sipd_start
for pair in udp:udp tcp:tcp udp:tcp; do
    ctr=${pair%%:*} etr=${pair##*:}
    tag=${ctr}_$etr
    px_new_cid
    user=$(new_user dlg)
    px_register_uas "uas_$tag" proxy_uas_reinvite.xml "$etr" "$user" 1 ""
    check "$tag: the callee ($etr) registered" px_wait_bindings "$user" 1
    sipp_ok "$tag: caller ($ctr): call, re-INVITE along the route set, callee's BYE arrives" \
        "uac_$tag" proxy_uac_reinvite.xml "$ctr" -cid_str "$PX_CID" -s "$user"
    px_bg_ok "$tag: callee ($etr): INVITE, ACK, re-INVITE, ACK; its BYE got 200" "uas_$tag"
    uas=$(px_log "uas_$tag") uac=$(px_log "uac_$tag")
    px_msg "$tag: callee got the initial INVITE and the re-INVITE" req "$uas" INVITE --count 2
    px_msg "$tag: re-INVITE at the callee: through the proxy, no Route, no Record-Route" \
        req "$uas" INVITE --index 1 --vias 2 --route 0 --rr 0 --max-forwards 69
    px_msg "$tag: both ACKs at the callee came through the proxy without Route" \
        req "$uas" ACK --count 2 --all --vias 2 --route 0
    px_msg "$tag: callee's BYE reached the caller through the proxy without Route" \
        req "$uac" BYE --count 1 --vias 2 --route 0
done
sipd_stop
finish
