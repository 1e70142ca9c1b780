#!/bin/bash
# t_proxy_call.sh - a call through the proxy to a registered user: INVITE / 100 / 180 / 200 / ACK /
# BYE / 200 (RFC 3261 §16). The callee (SIPp, scenarios/proxy_uas_answer.xml) registers its own
# address, the caller (proxy_uac.xml) calls sip:USER@example.com. Checked on the traces:
#   - the callee's INVITE: 2 Vias (proxy + caller), Max-Forwards 69, one Record-Route
#     <sip:proxy;lr> - or, when the caller's and the callee's transports differ, two (one of
#     them ;transport=tcp), RFC 3261 §16.6 step 4 / RFC 5658 double Record-Route, the top one
#     being the proxy's address on the callee's transport;
#   - the caller's 200 carries the same Record-Route values and only the caller's Via;
#   - ACK and BYE reach the callee through the proxy (2 Vias) with the proxy's own Route entries
#     removed (no Route left, §16.4) and Request-URI = the callee's Contact.
# UDP, TCP, caller UDP / callee TCP, caller TCP / callee UDP.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

sipd_start
for pair in udp:udp tcp:tcp udp:tcp tcp:udp; do
    ctr=${pair%%:*} etr=${pair##*:}
    tag=${ctr}_$etr
    # the top Record-Route (the callee's first Route) is the proxy's address on the callee's side
    if [ "$ctr" = "$etr" ]; then rr=1 rrtcp=$([ "$ctr" = tcp ] && echo 1 || echo 0); else rr=2 rrtcp=1; fi
    if [ "$etr" = tcp ]; then top_re='transport=tcp'; else top_re='^(?!.*transport=tcp)'; fi
    px_new_cid
    user=$(new_user call)
    px_register_uas "uas_$tag" proxy_uas_answer.xml "$etr" "$user" 1 ""
    check "$tag: the callee ($etr) registered" px_wait_bindings "$user" 1
    sipp_ok "$tag: caller ($ctr) INVITE..200, ACK and BYE along the route set, 200 for the BYE" \
        "uac_$tag" proxy_uac.xml "$ctr" -cid_str "$PX_CID" -s "$user"
    px_bg_ok "$tag: callee ($etr) got INVITE, ACK and BYE through the proxy" "uas_$tag"
    uas=$(px_log "uas_$tag") uac=$(px_log "uac_$tag")
    px_msg "$tag: callee's INVITE: 2 Vias, Max-Forwards 69, $rr Record-Route ($rrtcp with transport=tcp)" \
        req "$uas" INVITE --vias 2 --max-forwards 69 --rr "$rr" --rr-tcp "$rrtcp" --rr-first-re "$top_re"
    px_msg "$tag: caller got 100 Trying" resp "$uac" 100 --min 1
    px_msg "$tag: caller's 200: its own Via only, $rr Record-Route" resp "$uac" 200 --vias 1 --rr "$rr"
    px_msg "$tag: callee's ACK came through the proxy, own Route entries removed" \
        req "$uas" ACK --count 1 --vias 2 --route 0
    px_msg "$tag: callee's BYE came through the proxy, own Route entries removed" \
        req "$uas" BYE --min 1 --vias 2 --route 0
done
sipd_stop
finish
