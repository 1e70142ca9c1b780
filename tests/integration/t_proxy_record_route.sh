#!/bin/bash
# t_proxy_record_route.sh - which requests the proxy record-routes (RFC 3261 §16.6 step 4,
# §12.1.1): dialog-creating INVITE, SUBSCRIBE and REFER get Record-Route <sip:PROXY;lr> (seen by
# the caller in the 2xx, which the callee copies from the request), MESSAGE (no dialog) does
# not; with --set proxy.record_route=no none does. Callee: py/proxy_device.py answer (200 to
# everything, Record-Route copied); caller: py/proxy_call.py. UDP.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

# rr_cases WANT: WANT = 1 (Record-Route expected on INVITE/SUBSCRIBE/REFER) or 0
rr_cases() {
    local want=$1 user m hdr n
    user=$(new_user rr)
    px_py_bg "dev_$want" proxy_device.py answer udp "$SIP_HOST" "$SIP_PORT" --user "$user" \
        --domain "$DOMAIN" --duration 8 --name "callee (rr=$want)"
    check "rr=$want: the callee registered" px_wait_bindings "$user" 1
    for m in INVITE SUBSCRIBE REFER MESSAGE; do
        case $m in
            SUBSCRIBE) hdr="Event: presence" ;;
            REFER) hdr="Refer-To: <sip:carol@$DOMAIN>" ;;
            *) hdr="Subject: rr" ;;
        esac
        n=$want
        [ "$m" = MESSAGE ] && n=0
        local -a re=()
        [ "$n" = 1 ] && re=(--expect-header-re "record-route=^ *<sip:127\\.0\\.0\\.1:$SIP_PORT;lr> *\$")
        px_call "rr=$want: $m -> 200 with $n Record-Route" udp --to "$user" --method "$m" \
            --header "$hdr" --expect 200 --expect-header "record-route=$n" "${re[@]}" --name "$m rr=$want"
    done
    px_bg_ok "rr=$want: the callee answered everything" "dev_$want"
}

# the proxy role alone: with the broker, MESSAGE and presence SUBSCRIBE are the broker's
sipd_start --roles registrar,proxy
rr_cases 1
sipd_stop
SIP_PORT=
sipd_start --roles registrar,proxy --set proxy.record_route=no
rr_cases 0
sipd_stop
finish
