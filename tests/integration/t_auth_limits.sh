#!/bin/bash
# t_auth_limits.sh - the failed-authentication limits per source and per user, and the digest
# uri check (docs/auth.md "Failed attempts"), over UDP and TCP from several loopback addresses
# (limits.exempt empty, so that loopback is limited; short refills): py/auth_limits.py. Then the
# refusals are counted in /metrics (sipd_limit_rejections_total{limit="auth_source"|"auth_user"},
# sipd_auth_failures_total), and with auth.fail_rate=0 and auth.user_fail_rate=0 nothing is
# throttled.
. "$(dirname "$0")/lib.sh"
. "$IT_DIR/sipctl_lib.sh"

T=(--token "$API_TOKEN")
PA=alice-pw-$RANDOM PB=bob-pw-$RANDOM PC=carol-pw-$RANDOM
LIMITS=(--set limits.exempt= --set auth.fail_burst=4 --set auth.fail_rate=0.2
        --set auth.user_fail_burst=3 --set auth.user_fail_rate=0.5)

metric() { # metric NAME [LABELS]: its value in /metrics, 0 when absent
    local k="$1"
    [ -n "${2:-}" ] && k="$1{$2}"
    curl -s --max-time 5 "$API_URL/metrics" | awk -v k="$k" 'index($0, k " ") == 1 {print $2; f=1} END {if (!f) print 0}'
}
add_users() {
    export SIPCTL_URL=$API_URL
    local u pw
    for u in alice:$PA bob:$PB carol:$PC; do
        pw=${u#*:} u=${u%%:*}
        ctl "${T[@]}" user add "$u@$DOMAIN" --password "$pw"
        check "user $u added" rc_is 0
    done
}

for tr in udp tcp; do
    SIP_PORT=
    sipd_start --auth on "${LIMITS[@]}"
    add_users
    check "py auth_limits over $tr" run_py auth_limits.py "$tr" "$SIP_HOST" "$SIP_PORT" "$PA" "$PB" "$PC"
    src=$(metric sipd_limit_rejections_total 'limit="auth_source"')
    usr=$(metric sipd_limit_rejections_total 'limit="auth_user"')
    fails=$(metric sipd_auth_failures_total)
    log "$tr: refused auth_source=$src auth_user=$usr, failures checked=$fails"
    check "$tr: refusals per source counted (2: $src)" test "$src" = 2
    check "$tr: refusals per user counted (3: $usr)" test "$usr" = 3
    # 127.0.0.2: 4, bob: 3, the unknown user: 3
    check "$tr: wrong passwords checked (10: $fails)" test "$fails" = 10
    check "the log holds no password" bash -c "! grep -qE -- '$PA|$PB|$PC' '$SIPD_LOG'"
    sipd_stop
done

# rates 0: no limit (the py client fails its 503 checks)
SIP_PORT=
sipd_start --auth on --set limits.exempt= --set auth.fail_rate=0 --set auth.user_fail_rate=0
add_users
check "rates 0: no throttling, so auth_limits.py finds no 503" \
    bash -c "! PY_TIMEOUT=40 timeout 40 '$PYTHON' '$IT_DIR/py/auth_limits.py' udp '$SIP_HOST' '$SIP_PORT' '$PA' '$PB' '$PC' >'$T_DIR/nolimit.out' 2>&1"
check "rates 0: the 5th wrong password from one source is checked (401)" \
    grep -q "FAIL: auth_limits udp - 127.0.0.2 5th wrong password" "$T_DIR/nolimit.out"
check "rates 0: no refusal counted" test "$(metric sipd_limit_rejections_total 'limit="auth_source"')" = 0
sipd_stop

# a bad value is refused at start
check "auth.user_fail_rate=-1 is refused" bash -c "! timeout 10 '$SIPD' --auth on --set auth.user_fail_rate=-1 --listen udp:127.0.0.1:1 --foreground >'$T_DIR/bad.out' 2>&1"
check "... saying which key" grep -q "auth.user_fail_rate" "$T_DIR/bad.out"
finish
