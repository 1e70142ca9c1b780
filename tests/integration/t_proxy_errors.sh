#!/bin/bash
# t_proxy_errors.sh - requests the proxy answers itself (RFC 3261 §16.3, §16.5, §16.7), with
# py/proxy_call.py as the caller (it also checks the 100 Trying and ACKs the final response):
#   404  INVITE / MESSAGE to a user nobody registered (UDP, TCP)
#   480  a user who registered before but whose bindings are gone: unregistered (Expires 0) or
#        expired (--set registrar.min_expires=1, a 1 s binding, 2.5 s later)
#   483  Max-Forwards: 0 on an INVITE and on a MESSAGE to a registered user (§16.3 step 3); the
#        user's device (py/proxy_device.py silent) must see nothing
#   420  Proxy-Require naming an unknown extension, with Unsupported naming it (§16.3 step 5);
#        an unknown option in Require (for the UAS, not the proxy) is forwarded: the call works
#   482  a loop (§16.3 step 4): the request comes back to the proxy unchanged -
#        a) py/proxy_device.py reflect, a misconfigured stateless proxy at 127.0.0.1:R that
#           sends everything back: INVITE sip:carol@127.0.0.1:R;
#        b) loopy@127.0.0.1 registered with Contact <sip:loopy@127.0.0.1:PROXY> (the proxy
#           itself; a second daemon with --domain 127.0.0.1): INVITE sip:loopy@127.0.0.1:PROXY
#           is retargeted to the same URI, so it arrives again unchanged. The socket that sent
#           the REGISTER must see nothing (the target is the Contact, not the REGISTER's
#           source address).
#   a callee's 486 that carries only the proxy's Via is not forwarded without any Via (§16.7
#   step 3): whatever final response the caller gets carries its own Via.
# --set sip.t1_ms=100 bounds every Timer B here to 6.4 s.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/proxy_cases.sh"

# the proxy role alone: with the broker, MESSAGE to a user of ours is published, not proxied
sipd_start --roles registrar,proxy --set registrar.min_expires=1 --set sip.t1_ms=100

# 404
for tr in udp tcp; do
    px_call "404 over $tr: INVITE to an unknown user" "$tr" --to "$(new_user nobody)" \
        --expect 404 --expect-100 --name "404 INVITE/$tr"
    px_call "404 over $tr: MESSAGE to an unknown user" "$tr" --to "$(new_user nobody)" \
        --method MESSAGE --expect 404 --name "404 MESSAGE/$tr"
done

# 480
px_480_cases

# 483 and 420 toward a registered device that must see none of it
user=$(new_user mf)
px_py_bg quiet proxy_device.py silent udp "$SIP_HOST" "$SIP_PORT" --user "$user" --domain "$DOMAIN" \
    --duration 5 --expect-nothing --name "device that must see nothing"
check "483/420: the device registered" px_wait_bindings "$user" 1
px_call "483: INVITE with Max-Forwards 0" udp --to "$user" --max-forwards 0 --expect 483 \
    --name "483 INVITE"
px_call "483: MESSAGE with Max-Forwards 0" tcp --to "$user" --method MESSAGE --max-forwards 0 \
    --expect 483 --name "483 MESSAGE"
px_call "420: Proxy-Require: x-no-such-ext -> 420 with Unsupported: x-no-such-ext" udp --to "$user" \
    --header "Proxy-Require: x-no-such-ext" --expect 420 --expect-header-re 'unsupported=x-no-such-ext' \
    --name "420"
px_bg_ok "483/420: the device got none of those requests" quiet
px_alive "483/420"

user=$(new_user req)
px_py_bg req proxy_device.py answer udp "$SIP_HOST" "$SIP_PORT" --user "$user" --domain "$DOMAIN" \
    --duration 6 --expect-invites 1:3 --expect-bye 1 --name "callee with Require"
check "Require: the device registered" px_wait_bindings "$user" 1
px_call "Require: x-uas-only is for the callee: the proxy forwards the INVITE (200)" udp --to "$user" \
    --header "Require: x-uas-only" --expect 200 --name "Require"
px_bg_ok "Require: the callee got the INVITE and the BYE" req

# 482 a) a reflector sends the proxied request straight back
rport=$(pick_port)
px_py_bg refl proxy_device.py reflect udp "$SIP_HOST" "$SIP_PORT" --bind-port "$rport" --duration 8 \
    --name reflector
sleep 0.3
px_call "482: a request that comes back unchanged (via a reflector at :$rport) is a loop" udp \
    --ruri "sip:carol@127.0.0.1:$rport" --expect 482 --max-time 7 --timeout 10 --name "482 reflector"
px_bg_ok "482: the reflector got the request" refl
px_alive "482 a"

# a response without the caller's Via
user=$(new_user badvia)
px_py_bg badvia proxy_device.py reject-top-via udp "$SIP_HOST" "$SIP_PORT" --user "$user" \
    --domain "$DOMAIN" --duration 9 --expect-invites 1:9 --name "callee answering with one Via"
check "one-Via 486: the device registered" px_wait_bindings "$user" 1
px_call "one-Via 486: the caller's final response carries its own Via (never a Via-less copy)" udp \
    --to "$user" --expect 408,480,486,500,502,503 --timeout 10 --name "one-Via 486"
px_bg_ok "one-Via 486: the device got the INVITE" badvia
px_alive "one-Via 486"

sipd_stop

# 482 b) a contact that is the proxy itself: a daemon serving the domain 127.0.0.1 (so that
# loopy@127.0.0.1 can register; lib.sh passes --domain $DOMAIN)
DOMAIN=127.0.0.1 SIP_PORT=
sipd_start --roles registrar,proxy --set sip.t1_ms=100
user=$(new_user loopy)
px_py_bg loopdev proxy_device.py silent udp "$SIP_HOST" "$SIP_PORT" --user "$user" \
    --domain "127.0.0.1:$SIP_PORT" --contact-host "127.0.0.1:$SIP_PORT" --duration 9 --expect-nothing \
    --name "socket that sent the REGISTER"
check "482: loopy@127.0.0.1 registered with Contact = the proxy" px_wait_bindings "$user" 1
px_call "482: Contact = the proxy itself: the retargeted request loops back unchanged" udp \
    --ruri "sip:$user@127.0.0.1:$SIP_PORT" --expect 482 --max-time 7 --timeout 10 --name "482 contact=proxy"
px_bg_ok "482: the socket that registered got nothing (the target is the Contact)" loopdev
px_alive "482 b"
sipd_stop
finish
