#!/bin/bash
# t_proxy_third_party.sh - the proxy sends a request for a registered user to the binding's
# Contact (RFC 3261 §16.5: the target set is the Contacts; §16.6 steps 6-7 / RFC 3263: the next
# hop comes from that URI), even when the REGISTER came from another address: a third-party
# registration (RFC 3261 §10.2; also any UA registering from a socket other than the one it
# receives on). Only an outbound flow (RFC 5626 reg-id/+sip.instance) or Path changes that.
# A SIPp callee in server mode (scenarios/proxy_uas_plain.xml) listens on port P; py/proxy_reg.py
# registers <sip:USER@127.0.0.1:P> from its own (other) port; the caller (proxy_uac.xml) must
# reach the callee. --set sip.t1_ms=100 bounds the wait (Timer B 6.4 s) when it does not.
# UDP and TCP callee.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

SIPP_TIMEOUT=12
sipd_start --set sip.t1_ms=100
for tr in udp tcp; do
    user=$(new_user third)
    port=$(pick_port) || bail "no free port"
    px_sipp_server "uas_$tr" proxy_uas_plain.xml "$tr" "$port" -key user "$user"
    check "$tr: a third party registers <sip:$user@127.0.0.1:$port;transport=$tr>" \
        px_reg register "$tr" "$SIP_HOST" "$SIP_PORT" --user "$user" --domain "$DOMAIN" \
        --contact "<sip:$user@127.0.0.1:$port;transport=$tr>" --expires 120
    sipp_ok "$tr: the call reaches the registered Contact and completes" \
        "uac_$tr" proxy_uac.xml udp -s "$user" -recv_timeout 10000
    px_bg_ok "$tr: the callee at the Contact got INVITE, ACK and BYE" "uas_$tr"
    px_alive "third party $tr"
done
sipd_stop
finish
