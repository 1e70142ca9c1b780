#!/bin/bash
# t_auth.sh - digest authentication (docs/auth.md) on the memory store: users added and changed
# with sipctl (REST underneath; on a terminal the password is asked twice, not echoed:
# py/sipctl_password.py), never shown with a password or HA1; REGISTER, MESSAGE,
# SUBSCRIBE and INVITE challenged and answered by SIPp (right password, wrong password, another
# user's identity: 403) and by py/auth_digest.py (SHA-256 and MD5, the challenge's shape, an
# unknown user answered like a wrong password, nonce-count replay, stale nonce, exemptions),
# over UDP and TCP; SIPp also with a stale nonce and one nonce for two requests (nc counted up).
# Then with auth off: one warning line at start and no challenge.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/sipctl_lib.sh"
. "$IT_DIR/auth_lib.sh"

T=(--token "$API_TOKEN")
PA=alice-pw-$RANDOM
PB=bob-pw-$RANDOM

# ---- SHA-256 first, then MD5 (the default) ----
sipd_start --auth on --set auth.nonce_ttl_s=2
export SIPCTL_URL=$API_URL
check "auth on: no 'auth.enabled is off' warning" bash -c "! grep -q 'auth.enabled is off' '$SIPD_LOG'"
ctl "${T[@]}" user add alice@$DOMAIN --password "$PA"
check "user add alice: exit 0, says added" bash -c "[ $RC = 0 ] && grep -q 'sip:alice@$DOMAIN added' '$T_DIR/out'"
printf '%s\n' "$PB" | timeout 10 "$SIPCTL" "${T[@]}" user add "bob@$DOMAIN" >"$T_DIR/out" 2>&1
check "user add bob with the password on stdin: exit 0" test $? = 0
check "user add on a terminal: asked twice, not echoed" \
    env SIPCTL_TOKEN="$API_TOKEN" "$PYTHON" "$IT_DIR/py/sipctl_password.py" "$SIPCTL" "dave@$DOMAIN" "dave-pw-$RANDOM"
ctl "${T[@]}" user add alice@$DOMAIN --password x
check "user add of an existing user: exit 1, conflict" err_is_one_line '^sipctl: exists: '
ctl "${T[@]}" user passwd carol@$DOMAIN --password x
check "user passwd of an unknown user: exit 1, not found" err_is_one_line '^sipctl: not found: '
ctl user list
check "user list: the users" bash -c "[ $RC = 0 ] && grep -Eq '^sip:alice@$DOMAIN +$DOMAIN$' '$T_DIR/out' && grep -Eq '^sip:bob@$DOMAIN +$DOMAIN$' '$T_DIR/out' && grep -Eq '^sip:dave@$DOMAIN +$DOMAIN$' '$T_DIR/out'"
ctl --json user list
check "user list --json: aor and realm only (no password, no HA1)" \
    json_ok "all(sorted(u) == ['aor', 'realm'] for u in j['items']) and len(j['items']) == 3"
check "the REST answer never holds a password or an HA1" \
    bash -c "! curl -s '$API_URL/api/v1/users/alice%40$DOMAIN' | grep -Eiq 'ha1|password|$PA'"
check "the log never holds the password" bash -c "! grep -q -- '$PA' '$SIPD_LOG'"
for tr in udp tcp; do
    check "py auth_digest over $tr" run_py auth_digest.py "$tr" "$SIP_HOST" "$SIP_PORT" "$PA" "$PB" \
        "$([ $tr = udp ] && echo 2)"
done
ctl "${T[@]}" user passwd alice@$DOMAIN --password "$PA-new"
check "user passwd: exit 0" rc_is 0
check "py auth_digest with the new password" run_py auth_digest.py udp "$SIP_HOST" "$SIP_PORT" "$PA-new" "$PB"
check "... the old one no longer works" bash -c "! PY_TIMEOUT=30 timeout 30 python3 '$IT_DIR/py/auth_digest.py' udp '$SIP_HOST' '$SIP_PORT' '$PA' '$PB' >/dev/null 2>&1"
ctl "${T[@]}" user remove bob@$DOMAIN
check "user remove: exit 0" rc_is 0
ctl "${T[@]}" user remove bob@$DOMAIN
check "user remove again: exit 1, not found" err_is_one_line '^sipctl: not found: '
sipd_stop

# ---- SIPp (MD5 only: SIPp 3.6 answers nothing else) ----
SIP_PORT=
sipd_start --auth on --set auth.algorithms=MD5
export SIPCTL_URL=$API_URL
ctl "${T[@]}" user add alice@$DOMAIN --password "$PA"
ctl "${T[@]}" user add bob@$DOMAIN --password "$PB"
for tr in udp tcp; do
    auth_sipp_cases "$tr" "$PA" "$PB"
done
sipd_stop

# ---- SIPp: a stale nonce (auth.nonce_ttl_s=1), and one nonce used for two requests ----
SIP_PORT=
sipd_start --auth on --set auth.algorithms=MD5 --set auth.nonce_ttl_s=1
export SIPCTL_URL=$API_URL
ctl "${T[@]}" user add alice@$DOMAIN --password "$PA"
for tr in udp tcp; do
    auth_scenario stale auth_sequence.xml USER=alice "PASSWORD=$PA" PAUSE=2500 SECOND=401 \
        STALE=true THIRD=200
    auth_sipp "SIPp $tr: credentials for a nonce past its 1 s: 401 stale=true, then 200 with the new nonce" stale "$tr" "sip:$DOMAIN"
    auth_scenario nonce_twice auth_sequence.xml USER=alice "PASSWORD=$PA" PAUSE=0 SECOND=200 \
        STALE=false THIRD=200
    auth_sipp "SIPp $tr: one nonce for two REGISTERs, nc 1 then 2: 200 both" nonce_twice "$tr" "sip:$DOMAIN"
done
sipd_stop

# ---- auth off: one loud warning, nothing challenged ----
SIP_PORT=
sipd_start
check "auth off: exactly one warning line at start" \
    test "$(grep -c 'auth.enabled is off' "$SIPD_LOG")" = 1
sipp_ok "auth off: REGISTER without credentials gets 200" reg_off register_basic.xml udp -key user alice
sipd_stop
finish
