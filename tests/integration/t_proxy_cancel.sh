#!/bin/bash
# t_proxy_cancel.sh - the caller CANCELs while the callee rings (RFC 3261 §9.2, §16.10): the
# proxy answers the CANCEL 200 at once, CANCELs the branch (same branch as its INVITE, one Via),
# the callee's 487 goes back to the caller, and each side's ACK for the 487 is hop by hop.
# SIPp: scenarios/proxy_uas_ring_cancel.xml (callee) and proxy_uac_cancel.xml (caller).
# UDP, TCP, caller UDP / callee TCP, caller TCP / callee UDP. Then two devices, see below.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

sipd_start
for pair in udp:udp tcp:tcp udp:tcp tcp:udp; do
    ctr=${pair%%:*} etr=${pair##*:}
    tag=${ctr}_$etr
    px_new_cid
    user=$(new_user cancel)
    px_register_uas "uas_$tag" proxy_uas_ring_cancel.xml "$etr" "$user" 1 ""
    check "$tag: the callee ($etr) registered" px_wait_bindings "$user" 1
    sipp_ok "$tag: caller ($ctr) CANCELs after 180: 200 for the CANCEL, 487 for the INVITE" \
        "uac_$tag" proxy_uac_cancel.xml "$ctr" -cid_str "$PX_CID" -s "$user"
    px_bg_ok "$tag: callee rang, got the CANCEL, answered 200 + 487, got the ACK" "uas_$tag"
    px_msg "$tag: the callee's CANCEL comes from the proxy's INVITE transaction (1 Via, same branch)" \
        req "$(px_log "uas_$tag")" CANCEL --count 1 --vias 1 --branch-of INVITE
    px_msg "$tag: the ACK for the 487 at the callee is the proxy's own" \
        req "$(px_log "uas_$tag")" ACK --min 1 --all --vias 1 --branch-of INVITE
done
sipd_stop

# Two devices, the caller CANCELs after the first one rings (py/proxy_call.py, py/proxy_device.py;
# --set sip.t1_ms=50: Timer B 3.2 s):
#  - with a device that rings 1 s later: the proxy CANCELs it as soon as its 180 arrives (§9.1:
#    a CANCEL waits for a provisional), so the caller's 487 comes at once after that;
#  - with a device that never answers at all: it gets no CANCEL (no provisional); its branch
#    ends with Timer B; then the caller gets 487.
SIP_PORT=
sipd_start --set sip.t1_ms=50
for kind in late silent; do
    user=$(new_user c$kind)
    px_py_bg "A_$kind" proxy_device.py ring udp "$SIP_HOST" "$SIP_PORT" --user "$user" --domain "$DOMAIN" \
        --duration 7 --expect-cancel 1 --name "A rings at once"
    if [ "$kind" = late ]; then
        px_py_bg "B_$kind" proxy_device.py ring udp "$SIP_HOST" "$SIP_PORT" --user "$user" \
            --domain "$DOMAIN" --ring-delay 1.0 --duration 7 --expect-cancel 1 --name "B rings after 1 s"
        maxt=3
    else
        px_py_bg "B_$kind" proxy_device.py silent udp "$SIP_HOST" "$SIP_PORT" --user "$user" \
            --domain "$DOMAIN" --duration 7 --expect-cancel 0 --expect-invites 6:8 --name "B silent"
        maxt=6
    fi
    check "$kind: both devices registered" px_wait_bindings "$user" 2
    px_call "$kind: CANCEL after A's 180: 200 for the CANCEL, 487 within ${maxt}s" udp --to "$user" \
        --cancel-after-ringing --expect 487 --max-time "$maxt" --timeout 10 --name "caller ($kind)"
    px_bg_ok "$kind: A got the CANCEL" "A_$kind"
    px_bg_ok "$kind: B: $( [ "$kind" = late ] && echo 'CANCEL once its 180 arrived' || echo 'no CANCEL (it never sent a provisional)')" "B_$kind"
done
sipd_stop
finish
