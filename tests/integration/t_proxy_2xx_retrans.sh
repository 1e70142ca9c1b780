#!/bin/bash
# t_proxy_2xx_retrans.sh - retransmitted 2xx responses (RFC 3261 §13.3.1.4: a callee resends its
# 2xx until the ACK arrives - here as if the ACK had been lost) are forwarded to the caller
# (RFC 6026: the proxy's INVITE client transaction, in the Accepted state, passes every 2xx up;
# once the proxy has forgotten the call they are forwarded statelessly, RFC 3261 §16.7 step 5),
# and the proxy survives them. py/proxy_device.py answer --resend-200 3 (callee) and
# py/proxy_call.py (caller: ACKs every copy, then BYE). UDP and TCP; the daemon must still
# answer OPTIONS afterwards and exit cleanly.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

sipd_start
for tr in udp tcp; do
    user=$(new_user retx)
    px_py_bg "dev_$tr" proxy_device.py answer "$tr" "$SIP_HOST" "$SIP_PORT" --user "$user" \
        --domain "$DOMAIN" --duration 6 --resend-200 3 --expect-invites 1:3 --expect-bye 1 \
        --name "callee/$tr"
    check "$tr: the callee registered" px_wait_bindings "$user" 1
    px_call "$tr: the caller gets the 200 and its 3 retransmissions (4 copies), ACKs each, BYE" \
        "$tr" --to "$user" --expect 200 --expect-2xx 1 --expect-2xx-copies 4 --linger 1.5 \
        --name "caller/$tr"
    px_bg_ok "$tr: the callee got ACKs and the BYE" "dev_$tr"
    px_alive "2xx retransmissions over $tr"
    check "$tr: the daemon still answers OPTIONS" sip_ping udp "$SIP_HOST" "$SIP_PORT" 1
done
sipd_stop
finish
