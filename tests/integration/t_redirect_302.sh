#!/bin/bash
# t_redirect_302.sh - redirect mode (RFC 3261 §8.3, §21.3.3; DESIGN.md: a per-domain or per-node mode
# of the proxy role): an INVITE to a registered user gets 302 with every binding as
# "Contact: <uri>;q=...;expires=N" (py/proxy_redirect.py checks the list; SIPp
# scenarios/proxy_uac_302.xml makes a plain 302 + ACK call).
#  1. --roles registrar,redirect: three bindings (q 1.0/120 s, q 0.5/60 s with ;transport=tcp,
#     no q/300 s) -> 302 listing all three (UDP, TCP); unknown user -> 404; a user whose binding
#     was removed -> 480.
#  2. all roles, --domain example.com,example.net --set proxy.redirect_domains=example.com:
#     a user of example.com is redirected (302), a user of example.net is proxied (the device,
#     py/proxy_device.py answer, gets the INVITE; the caller gets its 200).
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

# redirect_case DESCRIPTION TR ARGS...: py/proxy_redirect.py as a PASS/FAIL check
redirect_case() {
    local what=$1 tr=$2
    shift 2
    check "$what" _px_indented run_py proxy_redirect.py "$tr" "$SIP_HOST" "$SIP_PORT" --domain "$DOMAIN" "$@"
}

sipd_start --roles registrar,redirect
for tr in udp tcp; do
    user=$(new_user rd)
    redirect_case "redirect over $tr: 302 lists the 3 bindings with q and expires" "$tr" --user "$user" \
        --register "sip:$user@127.0.0.1:5071|1.0|120" \
        --register "sip:$user@127.0.0.1:5072;transport=tcp|0.5|60" \
        --register "sip:$user@127.0.0.1:5073||300" --expect 302 --name "302"
    sipp_ok "redirect over $tr: SIPp caller gets 302 with a Contact;expires and ACKs it" \
        "uac302_$tr" proxy_uac_302.xml "$tr" -s "$user"
done
redirect_case "redirect: unknown user -> 404" udp --user "$(new_user nobody)" --expect 404 --name 404
user=$(new_user rdgone)
check "redirect: $user registers" px_reg register udp "$SIP_HOST" "$SIP_PORT" --user "$user" \
    --domain "$DOMAIN" --contact "<sip:$user@127.0.0.1:5074>" --expires 60
check "redirect: $user unregisters" px_reg unregister udp "$SIP_HOST" "$SIP_PORT" --user "$user" \
    --domain "$DOMAIN" --all
redirect_case "redirect: user without bindings -> 480" udp --user "$user" --expect 480 --name 480
sipd_stop

SIP_PORT=
DOMAIN=example.com,example.net sipd_start --set proxy.redirect_domains=example.com
user=$(new_user rdd)
redirect_case "redirect_domains: a user of example.com gets 302" udp --user "$user" \
    --register "sip:$user@127.0.0.1:5075|0.8|90" --expect 302 --name "302 example.com"
px_py_bg dev proxy_device.py answer udp "$SIP_HOST" "$SIP_PORT" --user "$user" --domain example.net \
    --duration 6 --expect-invites 1:3 --expect-bye 1 --name "device of example.net"
check "redirect_domains: $user@example.net registered" \
    run_py proxy_reg.py wait udp "$SIP_HOST" "$SIP_PORT" --domain example.net --user "$user" --count 1
check "redirect_domains: a user of example.net is proxied (200 from the device)" \
    _px_indented run_py proxy_call.py udp "$SIP_HOST" "$SIP_PORT" --domain example.net --to "$user" \
    --expect 200 --name "example.net"
px_bg_ok "redirect_domains: the example.net device got the INVITE and the BYE" dev
sipd_stop
finish
